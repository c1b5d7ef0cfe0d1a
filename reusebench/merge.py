"""``python -m reusebench.merge SHARD_DIR [SHARD_DIR ...]``: one report from a sharded run.

Each ``--shard I/N`` run writes ``results/<profile>/shards/I-of-N/records.json``; this reads
them, checks that they belong together (one profile, one torch, one device type, one N, each
shard once, no test twice), and writes records, figures and the report of the whole run, as
one machine would have: to ``results/<profile>/`` (``--out`` to choose), or to its
``partial/`` folder, marked partial, when a shard is missing or was itself partial.

    python -m reusebench.merge results/smoke/shards/*-of-3
    python -m reusebench.merge results/decisive/shards/*-of-4 --claims-out results/decisive/claims.json

``--claims-out`` also writes the claim records alone (with the profile, environment and
definitions): what the verdict tables, the answers table and ``compare_verdicts.py`` read, a
few percent of ``records.json``, small enough to commit.

What would decide each inconclusive cell is derived again from its stored interval with the
code that merges (``claims.rederive_decide``), so the merged report's what-ifs are those of
that code even where the shards ran an older one; the verdicts are the shards' own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from reusebench import baseline as baselines
from reusebench.claims import rederive_decide
from reusebench.files import atomic_write_text
from reusebench.profiles import Profile
from reusebench.protocol import ConfigError
from reusebench.report import RECORDS_FILE, RunCollector
from reusebench.report.layout import PARTIAL_DIR, SHARDS_DIR


def load_shard(directory: Path) -> dict:
    path = Path(directory) / RECORDS_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} ({exc}): pass the folders a --shard run wrote (results/<profile>/shards/I-of-N)") from None
    if "shard" not in doc:
        raise ConfigError(f"{path} is not a shard's records (no 'shard' entry): pass folders written by --shard I/N runs")
    return doc


def _profile(doc: dict) -> Profile:
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    return Profile(**{k: tuple(v) if isinstance(v, list) else v for k, v in doc["profile"].items() if k in fields})


def merge(docs: list[dict]) -> tuple[RunCollector, list[str]]:
    """The collector of the whole run and why it is partial (empty: complete)."""
    first = docs[0]
    checks = {
        "profile": lambda d: d["profile"],
        "audit": lambda d: d.get("audit"),
        "torch": lambda d: d["environment"]["torch"],
        "device type": lambda d: d["environment"]["device"].split(":")[0],
        "shard count N": lambda d: d["shard"]["count"],
        "commit and options (the run)": lambda d: d["shard"].get("run"),
    }
    for what, get in checks.items():
        for doc in docs[1:]:
            if get(doc) != get(first):
                raise ConfigError(f"the shards differ in {what}: shard {first['shard']['index']} has {get(first)!r}, "
                                  f"shard {doc['shard']['index']} has {get(doc)!r}; merge the shards of one run")
    count = first["shard"]["count"]
    indices = [d["shard"]["index"] for d in docs]
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if repeated:
        raise ConfigError(f"shard(s) {repeated} given more than once")
    tests: dict[str, int] = {}
    for doc in docs:
        for record in doc["records"]:
            seen = tests.setdefault(record["test"], doc["shard"]["index"])
            if seen != doc["shard"]["index"]:
                raise ConfigError(f"test {record['test']} ran in shards {seen} and {doc['shard']['index']}: "
                                  "the shards did not collect the same tests (same options on every machine?)")
    partial = [f"shard {i} of {count} missing" for i in range(1, count + 1) if i not in indices]
    partial += [f"shard {d['shard']['index']}: {reason}" for d in docs for reason in d.get("partial", [])]
    # shards may run on different machines (that is what they are for): the report names them all
    machines = sorted({(e.get("cpu") if e["device"].startswith("cpu") else e.get("device_name")) or "?"
                       for e in (d["environment"] for d in docs)})
    environment = dict(first["environment"], workers=sum(d["environment"].get("workers", 1) for d in docs), shards=count, machines=machines)
    collector = RunCollector(_profile(first), environment, audit=first.get("audit"))
    collector.records = [r for d in docs for r in d["records"]]
    for record in collector.records:  # the what-ifs of this code; the verdicts stay the shards' own
        rederive_decide(record, first["profile"].get("n_test"))
    for doc in docs:
        collector.add_fixtures(doc["fixtures"])
        collector.trainings += [t for t in doc.get("trainings", []) if t not in collector.trainings]
    collector.started = min(time.mktime(time.strptime(d["started"][:19], "%Y-%m-%dT%H:%M:%S")) for d in docs)  # written in local time
    collector.wall_seconds = max(d["wall_seconds"] for d in docs)  # the shards ran side by side
    collector.partial = partial
    collector.stopped = sorted({reason for d in docs for reason in d.get("stopped", [])})
    collector.definitions = dict(first.get("definitions") or {})
    if first.get("calibrated_on"):  # every shard reads the same observations file (checked above: the run's digest)
        collector.calibrated_on = {first["profile"]["name"]: first["calibrated_on"]}
    return collector, partial


CLAIMS_KEEP = ("profile", "environment", "started", "wall_seconds", "definitions", "partial", "calibrated_on")


def claims_only(doc: dict) -> dict:
    """A run's document with its claim records only (and what describes the run)."""
    return {**{k: doc[k] for k in CLAIMS_KEEP if k in doc}, "records": [r for r in doc["records"] if r["kind"] == "claim"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reusebench.merge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards", nargs="+", type=Path, help="the folders the --shard runs wrote")
    parser.add_argument("--out", type=Path, default=None, help="where the whole run goes (default: the folder that holds shards/)")
    parser.add_argument("--baseline-dir", type=Path, default=None, help="baselines for the report's history table (default: none)")
    parser.add_argument("--claims-out", type=Path, default=None, help="also write the claim records alone to this file (to commit)")
    args = parser.parse_args(argv)
    try:
        docs = [load_shard(d) for d in args.shards]
        collector, partial = merge(docs)
    except ConfigError as exc:
        print(f"reusebench.merge: {exc}", file=sys.stderr)
        return 2
    out = args.out or next((p.parent for p in args.shards[0].resolve().parents if p.name == SHARDS_DIR), None)
    if out is None:
        print(f"reusebench.merge: {args.shards[0]} is not inside a {SHARDS_DIR}/ folder: say where the run goes with --out", file=sys.stderr)
        return 2
    target = out / PARTIAL_DIR if partial else out
    history = baselines.history(args.baseline_dir, collector.profile.name) if args.baseline_dir else {}
    written = collector.write(target, history=history, results_root=out.parent)
    if args.claims_out:
        records = json.loads(written["records"].read_text())
        args.claims_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.claims_out, json.dumps(claims_only(records), indent=1, sort_keys=True))
        print(f"reusebench claims: {args.claims_out}")
    label = f"PARTIAL: {'; '.join(partial)}" if partial else f"{len(docs)} shards"
    print(f"reusebench report ({label}): {written['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
