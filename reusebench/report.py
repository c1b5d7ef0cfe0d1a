"""Results of a run: machine-readable records, a Markdown report of tabulate tables, and figures.

Every file is written atomically (temporary file, fsync, rename), so an interrupted run
never leaves a half-written file that a later reader would take as valid. The figures
(``figures/*.png``, see ``reusebench.figures``) are drawn only where there are records to
draw, and the report links exactly the figures that were written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tabulate import tabulate

from reusebench.profiles import Profile
from reusebench.protocol import ARCHITECTURES, DONORS, GROUPS, REUSE_VARIANTS, TASKS

RECORDS_FILE = "records.json"
REPORT_FILE = "report.md"
BENCHMARK_FILE = "benchmark.json"  # pytest-benchmark's format: `pytest-benchmark compare` reads it
FIGURES_DIR = "figures"

# Layer classes by damage, after Zhang, Bengio, Singer 2019, "Are all layers created equal?"
# (arXiv 1902.01996): a layer is robust if re-initialising / re-randomising it barely hurts,
# critical if it breaks the network. On our damage scale (0 harmless, 1 as bad as untrained):
ROBUST_MAX = 0.1
CRITICAL_MIN = 0.5

AUDIT_EXPECTATION = "none (audit)"  # an audited network's claims have no expected status
MAP_DONORS = {"init": "re-initialisation", "rerandom": "re-randomisation", "pretrained": "your pre-trained model"}  # the donors of the layer maps
FAMILIES = {"O": "Observations", "R": "Reasons", "C": "Criterion (C1)", "M": "Mechanism (M1)", "A": "Recalibration (A1)"}


def atomic_write(path: Path, write: Callable, binary: bool = False) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``.

    Readers see the old file or the whole new one; a failure leaves no temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    atomic_write(path, lambda fh: fh.write(text))


def remove_stale_temporaries(directory: Path) -> None:
    """Temporary files of a writer that was killed between write and rename."""
    for stale in Path(directory).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def num(value) -> float | None:
    """A record's number as a float: JSON holds NaN/inf as strings ("nan"); None stays None."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt(value, digits: int = 3, style: str = "f") -> str:
    """``-`` for None, ``non-finite`` for NaN/inf (also as the strings JSON gives back)."""
    x = num(value)
    if x is None:
        return "-"
    return f"{x:.{digits}{style}}" if math.isfinite(x) else "non-finite"


def sci(value) -> str:
    return fmt(value, 1, "e")


def fmt_any(value) -> str:
    """``fmt``, or scientific notation for numbers too small for three decimals (gradients, drifts)."""
    x = num(value)
    return sci(x) if x is not None and 0 < abs(x) < 5e-4 else fmt(x)


def json_safe(value):
    """JSON has no NaN/Inf: write them as strings, so the file stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def classify(damage) -> str:
    """A layer's class by its damage: robust, intermediate or critical (see ROBUST_MAX, CRITICAL_MIN)."""
    x = num(damage)
    if x is None or not math.isfinite(x):
        return "non-finite"
    return "robust" if x <= ROBUST_MAX else "critical" if x >= CRITICAL_MIN else "intermediate"


class RunCollector:
    """Gathers the records of one run (on the pytest controller) and writes them out."""

    def __init__(self, profile: Profile, environment: dict, audit: dict | None = None) -> None:
        self.profile = profile
        self.environment = environment
        self.audit = audit  # the AuditConfig of an audit of the user's own network
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
            **({"audit": self.audit} if self.audit else {}),
        }

    def write(self, directory: Path, history: dict[str, dict[str, bool]] | None = None) -> dict[str, Path]:
        """Write records.json, the figures and report.md; ``history`` adds statuses per torch version seen.

        Returns the paths written: "records", "report", "benchmark" (if timed) and one
        "figure:<name>" per figure. Figures of an earlier run that this one does not draw are removed.
        """
        directory = Path(directory)
        figures_dir = directory / FIGURES_DIR
        doc = self.document()
        for folder in (directory, figures_dir):
            if folder.is_dir():
                remove_stale_temporaries(folder)
        written = {"records": directory / RECORDS_FILE, "report": directory / REPORT_FILE}
        atomic_write_text(written["records"], json.dumps(json_safe(doc), indent=1, sort_keys=True))
        figures = Figures()
        text = _render(doc, history or {}, figures)
        for name, path in figures.draw(figures_dir).items():
            written[f"figure:{name}"] = path
        for old in figures_dir.glob("*.png") if figures_dir.is_dir() else ():
            if old not in written.values():
                old.unlink(missing_ok=True)
        atomic_write_text(written["report"], figures.finish(text))
        timings = [r["benchmark"] for r in self.records if r["kind"] == "timing"]
        if timings:
            from reusebench.timing import document

            written["benchmark"] = directory / BENCHMARK_FILE
            atomic_write_text(written["benchmark"], json.dumps(document(timings), indent=1))
        return written

    def summary_lines(self) -> list[str]:
        claims = self.of("claim")
        cases = self.of("case")
        trained = sum(1 for m in self.fixtures.values() if m["trained_now"])
        what = f"audit {self.audit['name']}" if self.audit else f"profile {self.profile.name}"
        lines = [
            f"{what}: {len(cases)} replacement cases, {len(claims)} claim checks, "
            f"{len(self.fixtures)} fixture networks ({trained} trained in this run, {len(self.fixtures) - trained} from cache)"
        ]
        for obs, items in sorted(_group(claims, "observation").items()):
            held = [c for c in items if c["holds"]]
            failing = ", ".join(sorted(_claim_key(c, ("arch", "task", "case")) for c in items if not c["holds"]))
            lines.append(f"  {obs}: holds in {len(held)}/{len(items)}" + (f"; not in {failing}" if failing else ""))
        surprises = [c for c in claims if _surprise(c)]
        if surprises:
            lines.append(f"  {len(surprises)} claim status(es) differ from observations.toml (see report)")
        return lines


class Figures:
    """The figures a report links: registered while rendering, drawn by ``draw``.

    A figure that fails to draw is reported in the text in place of its link (``finish``),
    so a plotting error never costs the run its report.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str, dict]] = {}  # name -> (link, function in reusebench.figures, kwargs)
        self.failed: dict[str, str] = {}

    def link(self, name: str, alt: str, function: str, **kwargs) -> str:
        link = f"![{alt}]({FIGURES_DIR}/{name}.png)"
        self.jobs[name] = (link, function, kwargs)
        return link

    def draw(self, directory: Path) -> dict[str, Path]:
        if not self.jobs:
            return {}
        from reusebench import figures

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


def outcome(claim: dict) -> str:
    expected_hold = claim["expected"] == "holds"
    if claim["expected"] == AUDIT_EXPECTATION:
        return "holds" if claim["holds"] else "does not hold"
    if claim["holds"]:
        return "holds" if expected_hold else "holds, but expected to fail (flip!)"
    return "does not hold (expected)" if not expected_hold else "does not hold (regression!)"


def _surprise(claim: dict) -> bool:
    return claim["expected"] != AUDIT_EXPECTATION and claim["holds"] != (claim["expected"] == "holds")


# ----------------------------------------------------------------------------- small helpers


def _rank(order: Sequence) -> Callable:
    """Sort key: the names of ``order`` in its order, any others after them, alphabetically."""
    order = list(order)
    return lambda x: (order.index(x), "") if x in order else (len(order), str(x))


def _present(order: Sequence, found: Iterable) -> list:
    return sorted(set(found), key=_rank(order))


def _group(records: Iterable[dict], *keys: str) -> dict:
    """Records by the value of ``keys`` (a tuple for several keys), in first-seen order."""
    out: dict = defaultdict(list)
    for r in records:
        values = tuple(r.get(k) for k in keys)
        out[values if len(keys) > 1 else values[0]].append(r)
    return out


def _pairs(records: list[dict]) -> list[tuple[tuple[str, str], list[dict]]]:
    """The records per (arch, task), in the protocol's order."""
    groups = _group(records, "arch", "task")
    return sorted(groups.items(), key=lambda kv: (_rank(ARCHITECTURES)(kv[0][0]), _rank(TASKS)(kv[0][1])))


def _by_seed(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (num(r.get("seed")) or 0, str(r.get("seed"))))


def _first_seed(records: list[dict], seeds: Sequence[int]):
    """The profile's first seed if the records have it, else their smallest seed."""
    present = [r.get("seed") for r in _by_seed(records)]
    return seeds[0] if seeds and seeds[0] in present else (present[0] if present else None)


def _mean_spread(values: Iterable) -> tuple[float | None, float | None]:
    """Mean and half the range (max - min) of the numbers among ``values``; NaN if one is not finite."""
    xs = [num(v) for v in values if v is not None]
    if not xs:
        return None, None
    if not all(math.isfinite(x) for x in xs):
        return math.nan, math.nan
    return sum(xs) / len(xs), (max(xs) - min(xs)) / 2


def _pm(values: Iterable, digits: int = 3) -> str:
    """``mean ±half-range`` over seeds."""
    mean, half = _mean_spread(values)
    return "-" if mean is None else f"{fmt(mean, digits)} ±{fmt(half, digits)}"


def _mean(values: Iterable):
    return _mean_spread(values)[0]


def _per_seed(records: Iterable[dict], field: str, digits: int = 3) -> str:
    """``0.412 / 0.371``: one value per seed, in seed order."""
    return " / ".join(fmt(r.get(field), digits) for r in _by_seed(records))


def _seeds_text(records: Iterable[dict]) -> str:
    seeds = [str(r.get("seed")) for r in _by_seed(records)]
    seeds = list(dict.fromkeys(seeds))
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(seeds)})"


def _table(rows: list[list], headers: Sequence[str]) -> str:
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def _claim_key(claim: dict, keys: Sequence[str] = ("observation", "arch", "task", "case")) -> str:
    return "/".join(str(claim.get(k)) for k in keys)


def _anchor(title: str, seen: dict[str, int]) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, duplicates numbered."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def _contents(body: list[str]) -> list[str]:
    """A table of contents of the level-2 and level-3 headings of ``body``."""
    seen: dict[str, int] = {}
    entries = []
    for line in body:
        level = len(line) - len(line.lstrip("#"))
        if line.startswith("#") and line[level:level + 1] == " ":
            title = line[level + 1:]
            anchor = _anchor(title, seen)
            if level in (2, 3):
                entries.append(f"{'  ' * (level - 2)}- [{title}](#{anchor})")
    return ["**Contents**", "", *entries, ""] if entries else []


# ----------------------------------------------------------------------------- the report


def render_markdown(doc: dict, history: dict[str, dict[str, bool]] | None = None) -> str:
    """The report of ``doc`` (``RunCollector.document()``); its figure links assume ``RunCollector.write``."""
    return _render(doc, history or {}, Figures())


def _render(doc: dict, history: dict[str, dict[str, bool]], figures: Figures) -> str:
    env, profile, audit = doc["environment"], doc["profile"], doc.get("audit")
    seeds = [audit["seed"]] if audit else list(profile.get("seeds") or [])
    # a case measured with seed None used the profile's first seed
    records = [{**r, "seed": seeds[0]} if "seed" in r and r["seed"] is None and seeds else r for r in doc["records"]]

    def of(kind: str) -> list[dict]:
        return [r for r in records if r["kind"] == kind]

    claims, cases, finetunes = of("claim"), of("case"), of("finetune")
    inventories = of("inventory")
    body = [
        *_verdict_section(of("verdict")),
        *_summary_section(claims),
        *_family_section("O", claims),
        *_history_section(claims, env, history),
        *_cases_section(cases),
        *_family_section("R", claims, [*_r1_section(finetunes, figures), *_r2_section(finetunes, seeds)]),
        *_family_section("C", claims, _c1_section(of("rmse_damage"), seeds, figures)),
        *_family_section("M", claims, _m1_section(of("bias_gradient"), cases, seeds)),
        *_family_section("A", claims, _adabn_section(cases)),
        *(line for letter in sorted({c["observation"][:1] for c in claims} - set(FAMILIES))
          for line in _family_section(letter, claims)),
        *_layer_maps_section(cases, inventories, seeds, figures),
        *_inventory_section(inventories),
        *_timing_section(of("timing")),
        *_fixtures_section(doc["fixtures"]),
        "## Environment", "", _table(sorted(env.items()), ["what", "value"]), "",
        *(["## Audit", "", _table(sorted(audit.items()), ["key", "value"]), ""] if audit else
          ["## Profile", "", _table(sorted(profile.items()), ["field", "value"]), ""]),
    ]
    metric = (f"m is the audit's metric `{audit['metric']}` on its validation data"
              if audit else "m is Dice for `seg` and SSIM for `ae`")
    head = [
        f"# reusebench audit: `{audit['name']}`" if audit else f"# reusebench report: profile `{profile['name']}`",
        "",
        f"Run started {doc['started']}, {doc['wall_seconds']:.0f} s; torch {env['torch']} on `{env['device']}` "
        f"({env['device_name']}), {env['workers']} worker(s), seeds {', '.join(map(str, seeds)) or '-'}. "
        f"Records: `{RECORDS_FILE}`; figures: `{FIGURES_DIR}/`.",
        "",
        "**How to read this.** For a target network T, a replacement gives T'; T0 is T's untrained",
        f"initialisation. `damage = (m(T) - m(T')) / (m(T) - m(T0))` on the {'validation data' if audit else 'test split'}: 0 is harmless,",
        f"1 is as bad as untrained, above 1 worse. {metric}; the raw",
        "change `delta = m(T') - m(T)` stands beside the damage. Where a number is measured on",
        "several seeds, `a ±b` is the mean over seeds ± half the range (max - min) over seeds, and",
        "`x / y` lists the values per seed in seed order. `non-finite`: NaN or infinite (e.g. T no",
        "better than T0, so damage is undefined).",
        "",
    ]
    return "\n".join([*head, *_contents(body), *body])


def _verdict_section(verdicts: list[dict]) -> list[str]:
    """An audit's answer on one screen: per group and per layer, reuse, reuse after AdaBN, or retrain."""
    if not verdicts:
        return []
    v = verdicts[0]
    rows = [[g["group"], g["layers"], fmt(g["damage"]), fmt(g["damage_adabn"]), f"**{g['verdict']}**"] for g in v["groups"]]
    groups = [g["group"] for g in v["groups"]]
    cells = {(r["layer"], r["group"]): r for r in v["layers"]}
    layers = list(dict.fromkeys(r["layer"] for r in v["layers"]))
    short = {"reuse": "reuse", "reuse + AdaBN": "AdaBN", "re-estimate (AdaBN)": "re-est.", "retrain": "RETRAIN", "undefined": "?"}
    layer_rows = [[f"`{layer}`", *(f"{short[c['verdict']]} {fmt(c['damage'], 2)}" if (c := cells.get((layer, g))) else ""
                                   for g in groups)] for layer in layers]
    counts = {k: sum(1 for g in v["groups"] if g["verdict"] == k) for k in ("reuse", "reuse + AdaBN", "re-estimate (AdaBN)", "retrain", "undefined")}
    return [
        f"## Verdict: what `{v['name']}` can reuse from your pre-trained model",
        "",
        f"Target metric `{v['metric']}` {fmt(v['m_target'])} (its initialisation {fmt(v['m_init'])}). Each parameter group "
        f"replaced by the pre-trained model's values: **reuse** if damage <= {v['reusable_max']} as is, **reuse + AdaBN** "
        "if re-estimating the BN statistics on your training data brings it there (for the running statistics "
        "themselves: **re-estimate (AdaBN)**, do not reuse them), **retrain** otherwise. Groups overlap (weight, bias, "
        "affine); counts: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".",
        "",
        _table(rows, ["group", "layers", "damage", "damage after AdaBN", "verdict"]),
        "",
        "Layer by layer (one layer's group replaced at a time; cell: verdict and damage without AdaBN):",
        "",
        _table(layer_rows, ["layer", *groups]),
        "",
        "Modules that no group covers are listed under *Parameter groups*; they are not replaced.",
        "",
    ]


def _summary_section(claims: list[dict]) -> list[str]:
    if not claims:
        return []
    rows = []
    for obs, items in sorted(_group(claims, "observation").items()):
        surprises = [f"{_claim_key(c, ('arch', 'task', 'case'))} ({outcome(c).split('(')[-1].rstrip(')')})"
                     for c in items if _surprise(c)]
        rows.append([
            obs, items[0]["statement"], f"{sum(c['holds'] for c in items)} / {len(items)}",
            sum(1 for c in items if not c["holds"] and not _surprise(c)), ", ".join(surprises) or "none",
        ])
    return [
        "## Claims summary",
        "",
        "Each claim is one test per architecture x task x case; `expected` comes from `benchmarks/observations.toml`.",
        "",
        _table(rows, ["claim", "statement", "holds", "does not hold (expected)", "surprises"]),
        "",
    ]


def _family_section(letter: str, claims: list[dict], data: list[str] = ()) -> list[str]:
    """A family of claims (O, R, C, M, A): its statements and claim rows, then its own data below."""
    items = [c for c in claims if c["observation"].startswith(letter)]
    if not items and not data:
        return []
    out = [f"## {FAMILIES.get(letter, f'Claims {letter}')}", ""]
    if items:
        statements = sorted({(c["observation"], c["statement"]) for c in items})
        statistics = sorted({str(c.get("statistic")) for c in items if c.get("statistic")})
        rows = []
        for c in sorted(items, key=lambda c: (c["observation"], _rank(ARCHITECTURES)(c["arch"]), _rank(TASKS)(c["task"]), str(c["case"]))):
            per_seed = " / ".join(fmt_any(s.get("value")) + ("" if s.get("holds", True) else " ✗") for s in _by_seed(c.get("per_seed") or []))
            half = None if c.get("spread") is None else num(c["spread"]) / 2
            rows.append([
                c["observation"], c["arch"], c["task"], c["case"], per_seed or "-",
                f"{fmt_any(c.get('mean'))} ±{fmt_any(half)}", f"{fmt_any(c['value'])} {c['op']} {c['threshold']}", outcome(c),
            ])
        out += [
            *[f"- **{o}**: {s}" for o, s in statements],
            "",
            f"The value tested against the threshold: {'; '.join(statistics) or 'see records'}. A seed on which the "
            "claim does not hold is marked ✗.",
            "",
            _table(rows, ["claim", "arch", "task", "case", "per seed", "mean ±", "value vs threshold", "outcome"]),
            "",
        ]
    return out + list(data)


def _history_section(claims: list[dict], env: dict, history: dict[str, dict[str, bool]]) -> list[str]:
    """Which claim holds where, per torch version seen (stored baselines and this run)."""
    if not claims:
        return []
    columns = dict(history)
    columns[f"this run: {env['torch']} ({env['device'].split(':')[0]})"] = {_claim_key(c): c["holds"] for c in claims}
    keys = sorted({k for statuses in columns.values() for k in statuses})
    mark = {True: "holds", False: "-", None: " "}
    rows = [[k, *(mark[statuses.get(k)] for statuses in columns.values())] for k in keys]
    flips = [r[0] for r in rows if len({c for c in r[1:] if c != " "}) > 1]
    return [
        "## Claim status across torch versions",
        "",
        "From the stored baselines (`results/baselines/`) and this run; `-` means the claim does not hold.",
        f"Rows whose status differs between versions: {', '.join(flips) if flips else 'none'}.",
        "",
        "<details><summary>the full table</summary>",
        "",
        _table(rows, ["observation/arch/task/case", *columns]),
        "",
        "</details>",
        "",
    ]


def _damage_cell(cases: list[dict] | None) -> str:
    if not cases:
        return "n/a"
    return f"{_pm(c['damage'] for c in cases)} ({fmt(_mean(c['delta'] for c in cases))})"


def _cases_section(cases: list[dict]) -> list[str]:
    out = []
    picked = [c for c in cases if c["scope"] == "all" and c["recalibration"] == "none"]
    for (arch, task), items in _pairs(picked):
        cells = _group(items, "group", "donor")
        donors = _present(DONORS, (d for _, d in cells))
        rows = [[g, *(_damage_cell(cells.get((g, d))) for d in donors)] for g in _present(GROUPS, (g for g, _ in cells))]
        targets = list({c.get("seed"): c for c in items}.values())  # one per seed: T and T0 depend on it
        out += [
            f"## Replacement damage: {arch} / {task}",
            "",
            f"Metric {items[0]['metric']} on the test split: trained T = {_pm(c['m_target'] for c in targets)}, "
            f"initialisation T0 = {_pm(c['m_init'] for c in targets)}. All layers of a group replaced at once, no "
            f"recalibration. Each cell: mean damage over {_seeds_text(targets)} ± half the range (max - min) over "
            "seeds, then (mean delta); `n/a`: not measured.",
            "",
            _table(rows, ["group", *donors]),
            "",
        ]
    return out


def _r1_section(runs: list[dict], figures: Figures) -> list[str]:
    if not runs:
        return []
    out = [
        "### R1: features are general",
        "",
        "Each variant fine-tunes the target task from a start (`scratch`: the target's own initialisation; "
        "otherwise the donor's groups named by the variant) on a slice of the training split, with the same step "
        "budget. `m_test`: the primary metric on the test split after the fine-tune. `advantage = (m_test - "
        "m_test(scratch)) / (m(T) - m(T0))`: the head start, in units of what full training gains over "
        "initialisation (same seed).",
        "",
    ]
    for (arch, task), items in _pairs(runs):
        variants = _group(items, "variant")
        rows = [
            [v, variants[v][0].get("donor") or "-", _per_seed(variants[v], "m_test"), _pm(r["m_test"] for r in variants[v]),
             _per_seed(variants[v], "advantage"), _pm(r.get("advantage") for r in variants[v])]
            for v in _present(REUSE_VARIANTS, variants)
        ]
        metric = items[0]["metric"]
        link = figures.link(
            f"curves-{arch}-{task}", f"R1 learning curves, {arch} / {task}", "learning_curves",
            title=f"R1: fine-tuning {arch} / {task} ({items[0].get('steps')} steps, {items[0].get('n_slice')} images)",
            metric=metric, target=_mean(r.get("m_target") for r in items),
            runs=[(r["variant"], r.get("seed"), [(num(s), num(v)) for s, v in r.get("curve") or []])
                  for v in _present(REUSE_VARIANTS, variants) for r in _by_seed(variants[v])],
        )
        out += [
            f"#### {arch} / {task}",
            "",
            f"Metric {metric}; {items[0].get('steps')} steps on {items[0].get('n_slice')} training images; "
            f"{_seeds_text(items)}. Fully trained target T = {_pm(r.get('m_target') for r in items)}, "
            f"untrained T0 = {_pm(r.get('m_init') for r in items)} (test split).",
            "",
            _table(rows, ["variant", "donor", "m_test per seed", "m_test mean ±", "advantage per seed", "advantage mean ±"]),
            "",
            link,
            "",
        ]
    return out


def _r2_section(runs: list[dict], seeds: Sequence[int]) -> list[str]:
    if not runs:
        return []
    out = [
        "### R2: close to ideal",
        "",
        "Per layer, `ratio = rmse(donor, fine-tuned) / rmse(init, trained)`: how far the fine-tune moved the "
        "donor's weights, in units of how far full training moves the initialisation; the median over layers "
        "is shown. `control`: the same ratio for the scratch run, `rmse(init, fine-tuned from scratch) / "
        "rmse(init, trained)` (how far the same budget moves weights from the initialisation). `donor to "
        "target`: median over layers of `rmse(donor, trained target) / rmse(init, trained target)`.",
        "",
    ]
    for (arch, task), items in _pairs(runs):
        ordered = sorted(items, key=lambda r: (_rank(REUSE_VARIANTS)(r["variant"]), num(r.get("seed")) or 0))
        rows = [[r["variant"], r.get("seed"), fmt(r.get("median_ratio")), fmt(r.get("control_median_ratio")),
                 fmt(r.get("donor_to_target_median_ratio"))] for r in ordered]
        seed = _first_seed(items, seeds)
        reused = [r for r in ordered if r.get("seed") == seed and r.get("rmse_layers")]
        per_layer = {(r["variant"], e["layer"]): e for r in reused for e in r["rmse_layers"]}
        layers = list(dict.fromkeys(e["layer"] for r in reused for e in r["rmse_layers"]))
        detail = [
            [layer, fmt(next((per_layer[(r["variant"], layer)]["init_to_trained"] for r in reused
                              if (r["variant"], layer) in per_layer), None), 4),
             *(fmt(per_layer.get((r["variant"], layer), {}).get("ratio")) for r in reused)]
            for layer in layers
        ]
        out += [
            f"#### {arch} / {task}",
            "",
            _table(rows, ["variant", "seed", "median ratio", "control (scratch)", "donor to target"]),
            "",
        ]
        if detail:
            out += [
                f"<details><summary>per-layer ratios, seed {seed}</summary>",
                "",
                _table(detail, ["layer", "rmse(init, trained)", *(f"ratio {r['variant']}" for r in reused)]),
                "",
                "</details>",
                "",
            ]
    return out


def _c1_section(records: list[dict], seeds: Sequence[int], figures: Figures) -> list[str]:
    if not records:
        return []
    rows = []
    for (arch, task, donor), items in sorted(
        _group(records, "arch", "task", "donor").items(),
        key=lambda kv: (_rank(ARCHITECTURES)(kv[0][0]), _rank(TASKS)(kv[0][1]), _rank(DONORS)(kv[0][2])),
    ):
        rows.append([arch, task, donor, _per_seed(items, "rho"), _pm(r.get("rho") for r in items), items[0].get("n_layers")])
    out = [
        "### C1: the RMSE criterion",
        "",
        "Per layer: the RMSE between the donor's and the target's convolution kernels, and the damage of "
        "replacing that layer's kernels with the donor's. `rho`: Spearman's rank correlation over layers "
        "(positive: a larger RMSE goes with a larger damage, as C1 says).",
        "",
        _table(rows, ["arch", "task", "donor", "rho per seed", "rho mean ±", "layers"]),
        "",
    ]
    for (arch, task), items in _pairs(records):
        seed = _first_seed(items, seeds)
        first = sorted((r for r in items if r.get("seed") == seed), key=lambda r: _rank(DONORS)(r["donor"]))
        series = [(f"{r['donor']} (ρ = {fmt(r.get('rho'), 2)})", [num(e.get("rmse")) for e in r.get("layers") or []],
                   [num(e.get("damage")) for e in r.get("layers") or []]) for r in first]
        out += [figures.link(f"rmse-damage-{arch}-{task}", f"C1 RMSE vs damage, {arch} / {task}", "rmse_scatter",
                             title=f"C1: kernel RMSE vs layer damage, {arch} / {task} (seed {seed})", series=series), ""]
    return out


def _m1_section(records: list[dict], cases: list[dict], seeds: Sequence[int]) -> list[str]:
    picked = [c for c in cases if c["group"] == "conv.bias" and c["scope"] == "all"
              and c["donor"] in ("other_task", "other_task_indep")]
    if not records and not picked:
        return []
    out = ["### M1: why conv biases feeding BN can be reused", ""]
    if records:
        out += [
            "A conv bias that feeds a BN layer is cancelled by BN's mean subtraction in training: its gradient is "
            "zero up to rounding. Whether it then stays at its initial value depends on the optimiser: Adam divides "
            "even a round-off gradient by its own RMS, so such a bias random-walks by about the learning rate per "
            "step. Per layer (first seed): the largest absolute gradient of the bias and of the weight (training "
            "mode, one batch, the larger of init and trained), and the RMS drift of each from its initial value.",
            "",
        ]
        for (arch, task), items in _pairs(records):
            seed = _first_seed(items, seeds)
            layers = [e for r in items if r.get("seed") == seed for e in r.get("layers") or []]
            rows = [[e["layer"], "yes" if e.get("feeds_bn") else "no", sci(e.get("grad_abs_max")), sci(e.get("weight_grad_abs_max")),
                     sci(e.get("drift")), sci(e.get("weight_drift"))] for e in layers]
            out += [
                f"#### {arch} / {task} (seed {seed})",
                "",
                _table(rows, ["layer", "feeds BN", "max abs grad bias", "max abs grad weight", "bias drift", "weight drift"]),
                "",
            ]
    if picked:
        cells = _group(picked, "arch", "task", "donor", "recalibration")
        keys = sorted({k[:3] for k in cells}, key=lambda k: (_rank(ARCHITECTURES)(k[0]), _rank(TASKS)(k[1]), _rank(DONORS)(k[2])))
        rows = [[*k, *(_pm(c["damage"] for c in cells.get((*k, rc), [])) for rc in ("none", "adabn"))] for k in keys]
        out += [
            "**The consequence.** Replacing every conv bias with the other task's: with the same initialisation "
            "(`other_task`) the biases are equal and nothing changes; with an independent one (`other_task_indep`) "
            "every activation is shifted, and re-estimating BN's running statistics (AdaBN) absorbs the shift. "
            "Mean damage over seeds ± half the range.",
            "",
            _table(rows, ["arch", "task", "donor", "damage, no recalibration", "damage, AdaBN"]),
            "",
        ]
    return out


def _adabn_section(cases: list[dict]) -> list[str]:
    alls = [c for c in cases if c["scope"] == "all"]
    recalibrated = {(c["arch"], c["task"]) for c in alls if c["recalibration"] == "adabn"}
    out = []
    for (arch, task), items in _pairs([c for c in alls if (c["arch"], c["task"]) in recalibrated]):
        cells = _group(items, "group", "donor", "recalibration")
        pairs = {k[:2] for k in cells if k[2] == "adabn"}
        donors = _present(DONORS, (d for _, d in pairs))
        rows = [
            [g, *(f"{fmt(_mean(c['damage'] for c in cells.get((g, d, 'none'), [])))} → "
                  f"{fmt(_mean(c['damage'] for c in cells.get((g, d, 'adabn'), [])))}" if (g, d) in pairs else "n/a"
                  for d in donors)]
            for g in _present(GROUPS, (g for g, _ in pairs))
        ]
        out += [f"#### {arch} / {task}", "", _table(rows, ["group", *donors]), ""]
    if not out:
        return []
    return [
        "### BN recalibration (AdaBN)",
        "",
        "After the replacement, AdaBN (Li et al. 2016) re-estimates every BN layer's running statistics on the "
        "target's training images (no labels, no gradients). Each cell: `damage without → damage with "
        "recalibration`, all layers of the group replaced, means over seeds.",
        "",
        *out,
    ]


def _ordered_layers(cases: list[dict], forward_order: Sequence[str]) -> list[str]:
    """The cases' layers in forward order (the inventory's), else by position among their group's layers."""
    rank = {name: i for i, name in enumerate(forward_order)}
    position = {}
    for c in cases:
        position[c["layer"]] = min(position.get(c["layer"], math.inf), num(c.get("position")) or math.inf)
    return sorted(position, key=lambda layer: (rank.get(layer, len(rank)), position[layer], layer))


def _layer_maps_section(cases: list[dict], inventories: list[dict], seeds: Sequence[int], figures: Figures) -> list[str]:
    picked = [c for c in cases if c["scope"] in ("layer", "prefix") and c["donor"] in MAP_DONORS
              and c["recalibration"] == "none" and c.get("layer") is not None]
    if not picked:
        return []
    seed = _first_seed(picked, seeds)
    picked = [c for c in picked if c.get("seed") == seed]
    orders = {inv["arch"]: inv.get("forward_order") or [] for inv in inventories}
    out = [
        "## Layer maps",
        "",
        f"One layer (or the first k layers of a group, cumulatively) replaced at a time with its re-initialisation "
        f"(`init`, the target's own step-0 values) or a re-randomisation (`rerandom`, fresh random values), no "
        f"recalibration, seed {seed}. Rows follow the forward order; grey cells do not apply to the layer. Classes after "
        f"Zhang, Bengio, Singer 2019 (\"Are all layers created equal?\"): `robust` damage <= {ROBUST_MAX}, `critical` "
        f">= {CRITICAL_MIN}, else `intermediate`.",
        "",
    ]
    for (arch, task), items in _pairs(picked):
        out += [f"#### {arch} / {task}", ""]
        for scope, suffix in (("layer", ""), ("prefix", "-prefix")):
            subset = [c for c in items if c["scope"] == scope]
            if not subset:
                continue
            layers = _ordered_layers(subset, orders.get(arch, ()))
            cells = {(c["layer"], c["group"], c["donor"]): num(c["damage"]) for c in subset}
            donors = _present(MAP_DONORS, (c["donor"] for c in subset))
            positions = {c["layer"]: c.get("position") for c in subset}
            labels = layers if scope == "layer" else [f"1..{positions[layer]} up to {layer}" for layer in layers]
            what = "one layer at a time" if scope == "layer" else "cumulative: layers 1..k of the group"
            groups = _present(GROUPS, (c["group"] for c in subset))
            out += [figures.link(
                f"layermap-{arch}-{task}{suffix}", f"layer map, {arch} / {task}, {what}", "layer_map",
                title=f"Damage per layer, {arch} / {task} ({what}; seed {seed}, {subset[0].get('metric')})",
                rows=labels, columns=groups,
                panels={f"{d} ({MAP_DONORS[d]})": [[cells.get((layer, g, d)) for g in groups] for layer in layers] for d in donors},
            ), ""]
            if scope == "layer":
                columns = [(g, d) for g in groups for d in donors if any(k[1:] == (g, d) for k in cells)]
                rows = [[layer, *(f"{classify(cells[(layer, g, d)])} {fmt(cells[(layer, g, d)], 2)}"
                                  if (layer, g, d) in cells else "" for g, d in columns)] for layer in layers]
                out += [_table(rows, ["layer", *(f"{g} {d}" for g, d in columns)]), ""]
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
            _table(rows, ["group", "tensors", "scalars"]),
            "",
            f"{len(feeding)} of {len(inv['conv_layers'])} convs feed a BN layer directly (their bias is cancelled "
            f"by BN's mean subtraction in training). Convs that do not: {', '.join(f'`{c}`' for c in not_feeding) or 'none'}.",
            "",
        ]
        out += _coverage_lines(inv.get("coverage"))
    return out


def _coverage_lines(coverage: dict | None) -> list[str]:
    """Which module types the groups cover, and the modules with tensors they leave out."""
    if not coverage:
        return []
    covered = "; ".join(f"`{t}` ({', '.join(groups)})" for t, groups in coverage["covered"]) or "none"
    out = [f"Covered module types: {covered}.", ""]
    if coverage["uncovered"]:
        rows = [[f"`{name}`", kind, scalars] for name, kind, scalars in coverage["uncovered"]]
        out += ["Modules with parameters or buffers that no group covers (never replaced, kept from the target):", "",
                _table(rows, ["module", "type", "scalars"]), ""]
    else:
        out += ["Every module with parameters or buffers is covered by a group.", ""]
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
        _table(rows, ["case", "device", "median ms", "min ms", "iqr ms", "rounds", "measured by"]),
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
        _table(rows, ["network", "this run", "worker", "train s", "final loss", "val metrics"]),
        "",
    ]
