"""The records of one run, gathered on the pytest controller, and the results written from them.

``RunCollector.write`` writes ``records.json``, the figures (``figures/*.png``, drawn only
where there are records to draw) and ``report.md``, which links exactly the figures that
were written; every file atomically (see ``reusebench.files``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from reusebench.claims import claim_key
from reusebench.files import atomic_write_text, json_safe, remove_stale_temporaries
from reusebench.profiles import Profile
from reusebench.report.format import _group
from reusebench.report.layout import BENCHMARK_FILE, FIGURES_DIR, RECORDS_FILE, REPORT_FILE
from reusebench.claims import move
from reusebench.report.outcomes import counts, evidence, expected, is_broken, is_move, is_surprise, status
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE
from reusebench.report.registry import Figures
from reusebench.report.render import render


class RunCollector:
    """Gathers the records of one run (on the pytest controller) and writes them out."""

    def __init__(self, profile: Profile, environment: dict, audit: dict | None = None, shard: tuple[int, int] | None = None,
                 run: dict | None = None) -> None:
        self.profile = profile
        self.environment = environment
        self.audit = audit  # the AuditConfig of an audit of the user's own network
        self.shard = shard  # --shard I/N: (I, N)
        self.run = run  # with --shard: the commit and options every shard of the run shares
        self.stopped: list[str] = []  # why the run stopped before measuring (an audited network that did not learn)
        self.wall_seconds: float | None = None  # set by a merge of shards (the longest shard); else until now
        self.started = time.time()
        self.records: list[dict] = []
        self.fixtures: dict[str, dict] = {}
        self.trainings: list[dict] = []  # one per network trained in this run, by whichever worker
        self.partial: list[str] = []  # why this run is not the complete battery (reusebench.plugin.results)
        self.calibrated_on: dict = {}  # profile -> where its calibrated statuses were measured (observations.toml [calibrated])
        self.calibration_applies = True  # False under --set or --dataset: every status reported, none enforced
        self.definitions: dict[str, str] = {}  # claim -> its statement in the observations file this run read

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
            "wall_seconds": time.time() - self.started if self.wall_seconds is None else self.wall_seconds,
            "fixtures": sorted(self.fixtures.values(), key=lambda m: m["label"]),
            "trainings": sorted(self.trainings, key=lambda t: t["label"]),
            "records": sorted(self.records, key=lambda r: r["test"]),
            **({"audit": self.audit} if self.audit else {}),
            **({"partial": list(self.partial)} if self.partial else {}),
            **({"shard": {"index": self.shard[0], "count": self.shard[1], "run": self.run}} if self.shard else {}),
            **({"stopped": list(self.stopped)} if self.stopped else {}),
            **({"calibrated_on": on} if (on := (self.calibrated_on or {}).get(self.profile.name)) else {}),
            **({"definitions": dict(self.definitions)} if self.definitions else {}),
        }

    def write(self, directory: Path, history: dict[str, dict[str, bool]] | None = None, results_root: Path | None = None) -> dict[str, Path]:
        """Write records.json, the figures and report.md; ``history`` adds statuses per torch version seen.

        Returns the paths written: "records", "report", "benchmark" (if timed) and one
        "figure:<name>" per figure. Figures of an earlier run that this one does not draw are removed.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        figures_dir = directory / FIGURES_DIR
        doc = self.document()
        for folder in (directory, figures_dir):
            if folder.is_dir():
                remove_stale_temporaries(folder)
        written = {"records": directory / RECORDS_FILE, "report": directory / REPORT_FILE}
        atomic_write_text(written["records"], json.dumps(json_safe(doc), indent=1, sort_keys=True))
        figures = Figures()
        text = render(doc, history or {}, figures, results_root=directory.parent if results_root is None else results_root)
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
        else:  # an earlier run's timings must not sit beside this run's records
            (directory / BENCHMARK_FILE).unlink(missing_ok=True)
        return written

    def summary_lines(self) -> list[str]:
        claims = self.of("claim")
        cases = self.of("case")
        trained = sum(1 for m in self.fixtures.values() if m["trained_now"])
        what = f"audit {self.audit['name']}" if self.audit else f"profile {self.profile.name}"
        lines = [f"NO VERDICT: {reason}" for reason in self.stopped] + [
            f"{what}: {len(cases)} replacement cases, {len(claims)} claim checks, "
            f"{len(self.fixtures)} fixture networks ({trained} trained in this run, {len(self.fixtures) - trained} from cache)"
        ]
        lines.append("  distinct evidence cells per claim (simultaneous intervals over seeds and test images):")
        for obs, items in sorted(_group(evidence(claims), "observation").items()):
            n = counts(items)
            unsure = ", ".join(sorted(claim_key(c, ("arch", "task", "case")) for c in items if status(c) == INCONCLUSIVE))
            lines.append(f"  {obs}: holds {n[HOLDS]}, does not hold {n[FAILS]}, inconclusive {n[INCONCLUSIVE]} of {len(items)}"
                         + (f"; inconclusive: {unsure}" if unsure else ""))
        machinery = [c for c in claims if c.get("tier") == "machinery"]
        if machinery:
            n = counts(machinery)
            broken = [claim_key(c) for c in machinery if is_broken(c)]
            lines.append(f"  machinery checks (hold by construction; not counted above): {n[HOLDS]}/{len(machinery)} hold, "
                         f"{n[INCONCLUSIVE]} inconclusive" + (f"; BROKEN: {', '.join(broken)}" if broken else ""))
        ablation = [c for c in claims if c.get("tier") == "ablation"]
        if ablation:
            n = counts(ablation)
            lines.append(f"  ablation cells (earlier design; not counted above): holds {n[HOLDS]}, does not hold {n[FAILS]}, "
                         f"inconclusive {n[INCONCLUSIVE]} of {len(ablation)}")
        if not self.calibration_applies and not self.audit and claims:
            lines.append("  calibrated statuses not applied: this run's --set / --dataset differ from the calibration "
                         "(observations.toml [calibration]); every outcome is reported, none fails as a flip")
        undefined = sorted(claim_key(c) for c in claims if status(c) not in (HOLDS, FAILS, INCONCLUSIVE))
        if undefined and not self.audit:
            lines.append(f"  UNDEFINED (a non-finite value; these fail the run): {', '.join(undefined)}")
        moved = [c for c in claims if is_move(c)]
        if moved:
            where = ", ".join(f"{claim_key(c)} ({move(expected(c), status(c))})" for c in sorted(moved, key=claim_key))
            lines.append(f"  moved into or out of inconclusive against the calibration{self._calibrated_on()} (reported, not a "
                         f"failure): {len(moved)}: {where}")
        surprises = [c for c in claims if is_surprise(c)]
        if surprises:
            lines.append(f"  FLIPS against the calibration (holds <-> does not hold; these fail the run): "
                         f"{', '.join(claim_key(c) for c in surprises)}")
        return lines

    def _calibrated_on(self) -> str:
        on = (self.calibrated_on or {}).get(self.profile.name)
        return f" ({on.get('machine')}, torch {on.get('torch')}, {on.get('date')})" if on else ""
