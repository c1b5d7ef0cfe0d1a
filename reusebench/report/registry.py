"""The figures a report links: registered by the sections while rendering, drawn afterwards."""

from __future__ import annotations

import warnings
from pathlib import Path

from reusebench.report.layout import FIGURES_DIR


class Figures:
    """The figures a report links: registered while rendering, drawn by ``draw``.

    A figure that fails to draw is reported in the text in place of its link (``finish``),
    so a plotting error never costs the run its report.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str, dict]] = {}  # name -> (link, function in reusebench.report.figures, kwargs)
        self.failed: dict[str, str] = {}

    def link(self, name: str, alt: str, function: str, **kwargs) -> str:
        link = f"![{alt}]({FIGURES_DIR}/{name}.png)"
        self.jobs[name] = (link, function, kwargs)
        return link

    def draw(self, directory: Path) -> dict[str, Path]:
        if not self.jobs:
            return {}
        from reusebench.report import figures  # matplotlib: only when there is something to draw

        drawn = {}
        for name, (_, function, kwargs) in self.jobs.items():
            try:
                drawn[name] = getattr(figures, function)(Path(directory) / f"{name}.png", **kwargs)
            except Exception as exc:  # noqa: BLE001 - the records and the report matter more than one figure
                self.failed[name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"reusebench: figure {name} not drawn ({self.failed[name]})", stacklevel=2)
        return drawn

    def finish(self, text: str) -> str:
        for name, error in self.failed.items():
            text = text.replace(self.jobs[name][0], f"*(figure `{name}` could not be drawn: {error})*")
        return text
