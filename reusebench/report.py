"""Results of a run: machine-readable records and a Markdown report of tabulate tables.

Both files are written atomically (temporary file, fsync, rename), so an interrupted run
never leaves a half-written file that a later reader would take as valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from reusebench.profiles import Profile
from reusebench.protocol import ARCHITECTURES, DONORS, GROUPS, TASKS

RECORDS_FILE = "records.json"
REPORT_FILE = "report.md"
BENCHMARK_FILE = "benchmark.json"  # pytest-benchmark's format: `pytest-benchmark compare` reads it


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite"
    return f"{value:.{digits}f}"


def json_safe(value):
    """JSON has no NaN/Inf: write them as strings, so the file stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class RunCollector:
    """Gathers the records of one run (on the pytest controller) and writes them out."""

    def __init__(self, profile: Profile, environment: dict) -> None:
        self.profile = profile
        self.environment = environment
        self.started = time.time()
        self.records: list[dict] = []
        self.fixtures: dict[str, dict] = {}
        self.trainings: list[dict] = []  # one per network trained in this run, by whichever worker

    def add(self, record: dict) -> None:
        self.records.append(record)

    def add_fixtures(self, metas: list[dict]) -> None:
        for meta in metas:
            if meta["trained_now"]:
                self.trainings.append({"key": meta["key"], "label": meta["label"], "worker": meta["worker"]})
            seen = self.fixtures.get(meta["key"])
            if seen is None or meta["trained_now"]:
                self.fixtures[meta["key"]] = meta

    def has_records(self) -> bool:
        return bool(self.records)

    def of(self, kind: str) -> list[dict]:
        return [r for r in self.records if r["kind"] == kind]

    def document(self) -> dict:
        return {
            "profile": dataclasses.asdict(self.profile),
            "environment": self.environment,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "wall_seconds": time.time() - self.started,
            "fixtures": sorted(self.fixtures.values(), key=lambda m: m["label"]),
            "trainings": sorted(self.trainings, key=lambda t: t["label"]),
            "records": sorted(self.records, key=lambda r: r["test"]),
        }

    def write(self, directory: Path, history: dict[str, dict[str, bool]] | None = None) -> dict[str, Path]:
        """Write records.json and report.md; ``history`` adds statuses per torch version seen."""
        doc = self.document()
        records, report = Path(directory) / RECORDS_FILE, Path(directory) / REPORT_FILE
        for stale in Path(directory).glob(".*.tmp"):  # temporary files of a writer that was killed
            stale.unlink(missing_ok=True)
        atomic_write_text(records, json.dumps(json_safe(doc), indent=1, sort_keys=True))
        atomic_write_text(report, render_markdown(doc, history or {}))
        written = {"records": records, "report": report}
        timings = [r["benchmark"] for r in self.records if r["kind"] == "timing"]
        if timings:
            from reusebench.timing import document

            written["benchmark"] = Path(directory) / BENCHMARK_FILE
            atomic_write_text(written["benchmark"], json.dumps(document(timings), indent=1))
        return written

    def summary_lines(self) -> list[str]:
        claims = self.of("claim")
        cases = self.of("case")
        trained = sum(1 for m in self.fixtures.values() if m["trained_now"])
        lines = [
            f"profile {self.profile.name}: {len(cases)} replacement cases, {len(claims)} observation checks, "
            f"{len(self.fixtures)} fixture networks ({trained} trained in this run, {len(self.fixtures) - trained} from cache)"
        ]
        by_obs: dict[str, list[dict]] = defaultdict(list)
        for c in claims:
            by_obs[c["observation"]].append(c)
        for obs, items in sorted(by_obs.items()):
            held = [c for c in items if c["holds"]]
            failing = ", ".join(sorted(f"{c['arch']}/{c['task']}/{c['donor']}" for c in items if not c["holds"]))
            lines.append(f"  {obs}: holds in {len(held)}/{len(items)}" + (f"; not in {failing}" if failing else ""))
        surprises = [c for c in claims if c["holds"] != (c["expected"] == "holds")]
        if surprises:
            lines.append(f"  {len(surprises)} observation status(es) differ from observations.toml (see report)")
        return lines


def outcome(claim: dict) -> str:
    expected_hold = claim["expected"] == "holds"
    if claim["holds"]:
        return "holds" if expected_hold else "holds, but expected to fail (flip!)"
    return "does not hold (expected)" if not expected_hold else "does not hold (regression!)"


def render_markdown(doc: dict, history: dict[str, dict[str, bool]] | None = None) -> str:
    env, profile = doc["environment"], doc["profile"]
    records = doc["records"]
    out = [
        f"# reusebench report: profile `{profile['name']}`",
        "",
        f"Run started {doc['started']}, {doc['wall_seconds']:.0f} s; torch {env['torch']} on `{env['device']}` "
        f"({env['device_name']}), {env['workers']} worker(s). Records: `{RECORDS_FILE}`.",
        "",
        "**How to read this.** For a target network T, a replacement gives T'; T0 is T's untrained",
        "initialisation. `damage = (m(T) - m(T')) / (m(T) - m(T0))` on the test split: 0 is harmless,",
        "1 is as bad as untrained, above 1 worse. m is Dice for `seg` and SSIM for `ae`; the raw",
        "change `delta = m(T') - m(T)` stands beside every damage. Cells read `damage (delta)`.",
        "",
    ]
    out += _claims_section([r for r in records if r["kind"] == "claim"])
    out += _history_section([r for r in records if r["kind"] == "claim"], env, history or {})
    out += _cases_section([r for r in records if r["kind"] == "case"])
    out += _inventory_section([r for r in records if r["kind"] == "inventory"])
    out += _timing_section([r for r in records if r["kind"] == "timing"])
    out += _fixtures_section(doc["fixtures"])
    out += ["## Environment", "", tabulate(sorted(env.items()), headers=["what", "value"], tablefmt="github"), ""]
    out += ["## Profile", "", tabulate(sorted(profile.items()), headers=["field", "value"], tablefmt="github"), ""]
    return "\n".join(out)


def _claims_section(claims: list[dict]) -> list[str]:
    if not claims:
        return []
    rows = []
    for c in sorted(claims, key=lambda c: (c["observation"], c["arch"], c["task"], DONORS.index(c["donor"]))):
        terms = ", ".join(f"{g} {fmt(d)}" for g, d in c["damages"].items())
        rows.append(
            [c["observation"], c["arch"], c["task"], c["donor"], terms, f"{fmt(c['value'])} {c['op']} {c['threshold']}", outcome(c)]
        )
    statements = sorted({(c["observation"], c["statement"]) for c in claims})
    return [
        "## Observations",
        "",
        *[f"- **{o}**: {s}" for o, s in statements],
        "",
        "Each row is one test; `expected` comes from `benchmarks/observations.toml`.",
        "",
        tabulate(rows, headers=["obs", "arch", "task", "donor", "damage", "value vs threshold", "outcome"], tablefmt="github"),
        "",
    ]


def _history_section(claims: list[dict], env: dict, history: dict[str, dict[str, bool]]) -> list[str]:
    """Which observation holds where, per torch version seen (stored baselines and this run)."""
    if not claims:
        return []
    columns = dict(history)
    columns[f"this run: {env['torch']} ({env['device'].split(':')[0]})"] = {
        "/".join(str(c[k]) for k in ("observation", "arch", "task", "donor")): c["holds"] for c in claims
    }
    keys = sorted({k for statuses in columns.values() for k in statuses})
    mark = {True: "holds", False: "-", None: " "}
    rows = [[k, *(mark[statuses.get(k)] for statuses in columns.values())] for k in keys]
    flips = [r[0] for r in rows if len({c for c in r[1:] if c != " "}) > 1]
    return [
        "## Observation status across torch versions",
        "",
        "From the stored baselines (`results/baselines/`) and this run; `-` means the claim does not hold.",
        f"Rows whose status differs between versions: {', '.join(flips) if flips else 'none'}.",
        "",
        "<details><summary>the full table</summary>",
        "",
        tabulate(rows, headers=["observation/arch/task/donor", *columns], tablefmt="github"),
        "",
        "</details>",
        "",
    ]


def _cases_section(cases: list[dict]) -> list[str]:
    out = []
    grid: dict[tuple[str, str], dict[tuple[str, str], dict]] = defaultdict(dict)
    for c in cases:
        if c["scope"] == "all" and c["recalibration"] == "none":
            grid[(c["arch"], c["task"])][(c["group"], c["donor"])] = c
    for arch in ARCHITECTURES:
        for task in TASKS:
            cells = grid.get((arch, task))
            if not cells:
                continue
            any_case = next(iter(cells.values()))
            donors = [d for d in DONORS if any(k[1] == d for k in cells)]
            rows = []
            for group in GROUPS:
                row = [group]
                for donor in donors:
                    c = cells.get((group, donor))
                    row.append("n/a" if c is None else f"{fmt(c['damage'])} ({fmt(c['delta'])})")
                rows.append(row)
            out += [
                f"## Replacement damage: {arch} / {task}",
                "",
                f"Metric {any_case['metric']}: trained T = {fmt(any_case['m_target'])}, "
                f"initialisation T0 = {fmt(any_case['m_init'])} (test split).",
                "",
                tabulate(rows, headers=["group", *donors], tablefmt="github"),
                "",
            ]
    return out


def _inventory_section(inventories: list[dict]) -> list[str]:
    if not inventories:
        return []
    out = ["## Parameter groups", ""]
    for inv in sorted(inventories, key=lambda i: i["arch"]):
        rows = [[g, v["tensors"], v["scalars"]] for g, v in inv["groups"].items()]
        feeding = inv["conv_feeding_bn"]
        not_feeding = [c for c in inv["conv_layers"] if c not in feeding]
        out += [
            f"### {inv['arch']}",
            "",
            tabulate(rows, headers=["group", "tensors", "scalars"], tablefmt="github"),
            "",
            f"{len(feeding)} of {len(inv['conv_layers'])} convs feed a BN layer directly (their bias is cancelled "
            f"by BN's mean subtraction in training). Convs that do not: {', '.join(f'`{c}`' for c in not_feeding) or 'none'}.",
            "",
        ]
    return out


def _timing_section(timings: list[dict]) -> list[str]:
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
        tabulate(rows, headers=["case", "device", "median ms", "min ms", "iqr ms", "rounds", "measured by"], tablefmt="github"),
        "",
    ]


def _fixtures_section(fixtures: list[dict]) -> list[str]:
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
        tabulate(rows, headers=["network", "this run", "worker", "train s", "final loss", "val metrics"], tablefmt="github"),
        "",
    ]
