"""The files of a run's results directory."""

RECORDS_FILE = "records.json"
REPORT_FILE = "report.md"
BENCHMARK_FILE = "benchmark.json"  # pytest-benchmark's format: `pytest-benchmark compare` reads it
FIGURES_DIR = "figures"
