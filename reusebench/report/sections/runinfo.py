"""About the run itself: timings, fixture networks, the environment and the profile (or the audit's settings)."""

from __future__ import annotations

from reusebench.report.format import _table, fmt
from reusebench.report.layout import BENCHMARK_FILE


def timing_section(timings: list[dict]) -> list[str]:
    if not timings:
        return []
    rows = []
    for t in sorted(timings, key=lambda t: t["benchmark"]["fullname"]):
        b, st = t["benchmark"], t["benchmark"]["stats"]
        rows.append([b["name"], b["extra_info"]["device"], f"{st['median'] * 1e3:.2f}", f"{st['min'] * 1e3:.2f}",
                     f"{st['iqr'] * 1e3:.2f}", st["rounds"], t["measured_by"]])
    return [
        "## Timings",
        "",
        f"Milliseconds per call; also in `{BENCHMARK_FILE}` (pytest-benchmark's format).",
        "",
        _table(rows, ["case", "device", "median ms", "min ms", "iqr ms", "rounds", "measured by"]),
        "",
    ]


def fixtures_section(fixtures: list[dict]) -> list[str]:
    if not fixtures:
        return []
    rows = [
        [
            f["label"],
            "trained" if f["trained_now"] else "cache",
            f["worker"],
            fmt(f["train_seconds"], 1),
            fmt(f["final_loss"], 4),
            ", ".join(f"{k} {fmt(v)}" for k, v in (f["val_metrics"] or {}).items()),
        ]
        for f in fixtures
    ]
    return [
        "## Fixture networks",
        "",
        _table(rows, ["network", "this run", "worker", "train s", "final loss", "val metrics"]),
        "",
    ]


def environment_section(env: dict) -> list[str]:
    return ["## Environment", "", _table(sorted(env.items()), ["what", "value"]), ""]


def settings_section(profile: dict, audit: dict | None) -> list[str]:
    """The audit's configuration for an audit, else the profile's fields."""
    if audit:
        return ["## Audit", "", _table(sorted(audit.items()), ["key", "value"]), ""]
    return ["## Profile", "", _table(sorted(profile.items()), ["field", "value"]), ""]
