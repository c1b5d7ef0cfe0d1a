"""The files of a run's results directory."""

RECORDS_FILE = "records.json"
REPORT_FILE = "report.md"
BENCHMARK_FILE = "benchmark.json"  # pytest-benchmark's format: `pytest-benchmark compare` reads it
FIGURES_DIR = "figures"
PARTIAL_DIR = "partial"  # a partial or interrupted run's own folder, beside the complete run's files
SHARDS_DIR = "shards"  # results/<profile>/shards/I-of-N/: one shard's records and report
VARIANTS_DIR = "variants"  # results/<profile>/variants/<overrides>/: a run that is not the profile as committed
