"""Results of a run: machine-readable records, a Markdown report of tabulate tables, and figures.

Every file is written atomically (see ``reusebench.files``), so an interrupted run never
leaves a half-written file that a later reader would take as valid. The figures
(``figures/*.png``, see ``reusebench.report.figures``) are drawn only where there are
records to draw, and the report links exactly the figures that were written.

- ``collector``: ``RunCollector``, the records of a run and ``write``;
- ``render``: ``render``, the document: its head, contents and the order of the sections;
- ``sections/``: one module per section or family of sections;
- ``format``: numbers, tables, anchors, records grouped and ordered;
- ``registry``: ``Figures``, the figures a report links; ``figures``: the drawing (matplotlib);
- ``classes``: ``layer_class`` and its thresholds; ``outcomes``: a claim's outcome; ``layout``: file names.
"""

from reusebench.report.classes import CRITICAL_MIN, ROBUST_MAX, layer_class
from reusebench.report.collector import RunCollector
from reusebench.report.layout import BENCHMARK_FILE, FIGURES_DIR, RECORDS_FILE, REPORT_FILE
from reusebench.report.registry import Figures
from reusebench.report.render import render

__all__ = [
    "BENCHMARK_FILE",
    "CRITICAL_MIN",
    "FIGURES_DIR",
    "RECORDS_FILE",
    "REPORT_FILE",
    "ROBUST_MAX",
    "Figures",
    "RunCollector",
    "layer_class",
    "render",
]
