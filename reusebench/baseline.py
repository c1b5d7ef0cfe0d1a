"""Stored baselines: what a run measured, kept in the repository, and the comparison with a new run.

A baseline holds, per replacement case, the primary metric of T, T' and T0 and the damage,
and per observation check whether it held. ``compare`` lists every quantity that moved
beyond its tolerance and every observation whose status flipped.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from reusebench.claims import claim_key
from reusebench.files import atomic_write_text, json_safe, num
from reusebench.protocol import ConfigError

QUANTITIES = ("m_target", "m_replaced", "m_init", "damage")


def case_key(r: dict) -> str:
    scope = r["scope"] if r["scope"] == "all" else f"{r['scope']}:{r['layer']}"
    return "/".join(str(r[k]) for k in ("arch", "task", "dataset", "group", "donor")) + f"/{scope}/{r['recalibration']}/seed{r['seed']}"


def _quantity(value) -> float:
    """A stored number (``num``: also "nan"/"inf"/"-inf"); garbage raises ValueError or TypeError.

    Unlike a record's field, a baseline's quantity is never None: that raises float(None)'s TypeError.
    """
    if value is None:
        raise TypeError("float() argument must be a string or a real number, not 'NoneType'")
    return num(value)


def _bounds(claim: dict) -> dict[str, float]:
    """A claim record's interval (NaN when the record predates intervals)."""
    iv = claim.get("interval") or {}
    return {k: math.nan if iv.get(k) is None else num(iv[k]) for k in ("low", "high")}


def torch_series(version: str) -> str:
    """'2.13.0+cpu' -> '2.13': baselines are kept per torch minor version where they differ."""
    return ".".join(version.split("+")[0].split(".")[:2])


def from_records(doc: dict) -> dict:
    """The baseline document of a run's records (``records.json`` content)."""
    env = doc["environment"]
    return {
        "profile": doc["profile"]["name"],
        # through JSON, so that a tuple read back as a list still compares equal
        "profile_fields": json.loads(json.dumps({k: v for k, v in doc["profile"].items() if k not in ("name", "description", "log_every")})),
        "torch": env["torch"],
        "device_type": env["device"].split(":")[0],
        # the CPU model (or the GPU's name): CPU numbers are bitwise repeatable on one model only
        "machine": env.get("device_name") if not env["device"].startswith("cpu") else env.get("cpu", env.get("device_name")),
        "cases": {
            case_key(r): {q: _quantity(r[q]) for q in QUANTITIES} | {"metric": r["metric"], "task": r["task"]}
            for r in doc["records"]
            if r["kind"] == "case"
        },
        "claims": {
            claim_key(r): {"holds": r["holds"], "outcome": r.get("outcome", "holds" if r["holds"] else "does not hold"),
                           "value": _quantity(r["value"]), "task": r["task"],
                           **_bounds(r)}
            for r in doc["records"]
            if r["kind"] == "claim"
        },
    }


MACHINES = "machines"  # <baseline dir>/machines/<machine slug>/: baselines recorded for one CPU model (or GPU)


def machine_slug(machine: str) -> str:
    """'AMD EPYC (AuthenticAMD family 25 model 17 stepping 1, X86_64)' -> 'amd-epyc-authenticamd-family-25-model-17-stepping-1-x86-64'."""
    return "-".join("".join(c if c.isalnum() else " " for c in machine.lower()).split()) or "unknown"


def baseline_path(directory: Path, profile: str, torch_version: str, machine: str | None = None) -> Path:
    """Where the baseline of a run is: this machine's own (``machines/<slug>/``) if one was
    recorded, else the shared one; in each, the torch-series-specific file if it exists, else
    the profile's."""
    series = f"{profile}-torch{torch_series(torch_version)}.json"
    places = ([Path(directory) / MACHINES / machine_slug(machine)] if machine else []) + [Path(directory)]
    for place in places:
        for name in (series, f"{profile}.json"):
            if (place / name).exists():
                return place / name
    return Path(directory) / f"{profile}.json"


def machine_baseline_dir(directory: Path, machine: str) -> Path:
    return Path(directory) / MACHINES / machine_slug(machine)


@dataclass(frozen=True)
class Drift:
    item: str
    quantity: str
    baseline: object
    now: object
    tolerance: object

    def row(self) -> list:
        def show(v):  # values in full (a drift may be in the last digits), a tolerance of 1e-9 as itself
            return repr(v) if isinstance(v, float) else str(v)

        tolerance = f"{self.tolerance:.4g}" if isinstance(self.tolerance, float) else str(self.tolerance)
        return [self.item, self.quantity, show(self.baseline), show(self.now), tolerance]


def load_tolerances(path: Path, profile: str, device_type: str) -> dict[str, float]:
    """Tolerances of ``profile`` on ``device_type``: ``{"<task>.<quantity>": absolute tolerance}``."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the tolerances file {path} ({exc}); see --tolerances") from None
    table = raw.get(profile, {}).get(device_type)
    if table is None:
        raise ConfigError(
            f"{path.name} has no tolerances for profile {profile!r} on {device_type!r}; "
            f"it has: {', '.join(f'{p}.{d}' for p, t in raw.items() for d in t if isinstance(t[d], dict)) or 'none'}"
        )
    tolerances = {}
    for task, quantities in table.items():
        if not isinstance(quantities, dict):
            continue
        for quantity, value in quantities.items():
            if quantity not in QUANTITIES or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{path.name} [{profile}.{device_type}.{task}]: bad tolerance {quantity} = {value!r}")
            tolerances[f"{task}.{quantity}"] = float(value)
    return tolerances


def _moved(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a != b
    return abs(a - b) > tolerance


def compare(baseline: dict, current: dict, tolerances: dict[str, float]) -> tuple[list[Drift], list[str]]:
    """(drifts beyond tolerance or flipped statuses, notes). Only items the current run measured count."""
    drifts, notes = [], []
    # Like with like: numbers from another profile configuration or device type are no baseline.
    then_fields, now_fields = baseline.get("profile_fields"), current.get("profile_fields")
    if then_fields is not None and now_fields is not None:
        for field in sorted(then_fields.keys() | now_fields.keys()):
            if then_fields.get(field) != now_fields.get(field):
                drifts.append(Drift("profile", field, then_fields.get(field), now_fields.get(field), "must match"))
    if baseline.get("device_type", current["device_type"]) != current["device_type"]:
        drifts.append(Drift("environment", "device type", baseline["device_type"], current["device_type"], "must match"))
    # Verdicts are portable, numbers are not: on another CPU model (or GPU) the networks train a
    # little differently, so per-case values and claim values are compared as notes, and only a
    # claim flip between holds and does not hold fails the run.
    other_machine = bool(baseline.get("machine") and current.get("machine") and baseline["machine"] != current["machine"])
    if other_machine:
        notes.append(f"the baseline was recorded on {baseline['machine']}, this run is on {current['machine']}: "
                     "numbers are bitwise repeatable on one CPU model only, so value drifts are listed as notes and only a "
                     "claim flip (holds <-> does not hold) fails (record this machine's own with --update-baseline --machine-baseline)")
    numeric: list[Drift] = []
    for key, now in sorted(current["cases"].items()):
        then = baseline["cases"].get(key)
        if then is None:
            notes.append(f"new case, not in the baseline: {key}")
            continue
        for q in QUANTITIES:
            tol = tolerances.get(f"{now['task']}.{q}", 0.0)
            if _moved(then[q], now[q], tol):
                numeric.append(Drift(key, f"{q} ({now['metric']})" if q != "damage" else q, then[q], now[q], tol))
    for key, now in sorted(current["claims"].items()):
        then = baseline["claims"].get(key)
        if then is None:
            notes.append(f"new observation check, not in the baseline: {key}")
            continue
        was, is_ = then.get("outcome", "holds" if then["holds"] else "does not hold"), now.get("outcome", "holds" if now["holds"] else "does not hold")
        if {was, is_} == {"holds", "does not hold"}:  # a flip between the two conclusive outcomes
            drifts.append(Drift(key, "status", was, is_, "a flip fails the run"))
        elif was != is_:
            notes.append(f"{key}: {was} -> {is_} (a move into or out of inconclusive; value {then['value']:.3f} -> {now['value']:.3f})")
        # Compared against its interval, not a per-case tolerance: the baseline's value must lie
        # inside this run's interval (on a deterministic CPU the values are equal).
        low, high = now.get("low", math.nan), now.get("high", math.nan)
        if math.isfinite(low) and math.isfinite(high) and math.isfinite(then["value"]) and not low <= then["value"] <= high:
            numeric.append(Drift(key, "value", then["value"], now["value"], f"outside this run's interval [{low:.3f}, {high:.3f}]"))
    if other_machine and numeric:
        notes.append(f"{len(numeric)} value(s) moved beyond the same-machine tolerance, as expected on another machine "
                     f"(not a failure); e.g. {numeric[0].item} {numeric[0].quantity}: {numeric[0].baseline!r} -> {numeric[0].now!r}")
    else:
        drifts += numeric
    return drifts, notes


def render_drifts(drifts: list[Drift]) -> str:
    return tabulate([d.row() for d in drifts], headers=["case", "quantity", "baseline", "now", "tolerance"], tablefmt="github")


def write_baseline(directory: Path, current: dict, for_machine: bool = False) -> Path:
    """Write ``current`` where ``baseline_path`` will find it; a new torch series gets its own
    file; ``for_machine``: this machine's own baseline (``machines/<slug>/``)."""
    if not current["cases"] and not current["claims"]:
        raise ConfigError("this run measured no case and checked no observation: nothing to put in a baseline")
    if for_machine:
        directory = machine_baseline_dir(directory, current.get("machine") or "unknown")
        directory.mkdir(parents=True, exist_ok=True)
    path = baseline_path(directory, current["profile"], current["torch"])
    merged = current
    if path.exists():
        stored = load_baseline(path)
        if torch_series(stored["torch"]) != torch_series(current["torch"]):
            path = directory / f"{current['profile']}-torch{torch_series(current['torch'])}.json"
        else:
            fields = stored.get("profile_fields", current["profile_fields"])
            differ = [f"{k} {fields.get(k)!r} -> {current['profile_fields'].get(k)!r}"
                      for k in sorted(fields.keys() | current["profile_fields"].keys()) if fields.get(k) != current["profile_fields"].get(k)]
            if stored["device_type"] != current["device_type"]:
                differ.append(f"device type {stored['device_type']!r} -> {current['device_type']!r}")
            if differ:
                raise ConfigError(
                    f"not updating {path}: this run differs from it in {'; '.join(differ)}. Record this configuration "
                    f"in a directory of its own (add --baseline-dir DIR), or, if the committed profile itself changed, "
                    f"delete {path} and run again with --update-baseline"
                )
            # A partial run (-k, --arch, ...) updates its own cases and keeps the others.
            merged = {**current, "cases": {**stored["cases"], **current["cases"]}, "claims": {**stored["claims"], **current["claims"]}}
    atomic_write_text(path, json.dumps(json_safe(merged), indent=1, sort_keys=True) + "\n")
    return path


def history(directory: Path, profile: str) -> dict[str, dict[str, bool]]:
    """Observation statuses per torch version, from every stored baseline of ``profile``."""
    seen = {}
    for path in sorted(Path(directory).glob(f"{profile}*.json")) + sorted(Path(directory).glob(f"{MACHINES}/*/{profile}*.json")):
        doc = json.loads(path.read_text())
        if doc.get("profile") == profile:
            own = f", {doc.get('machine')}" if path.parent.parent.name == MACHINES else ""
            seen[f"{doc['torch']} ({doc['device_type']}{own})"] = {
                k: v.get("outcome", "holds" if v["holds"] else "does not hold") for k, v in doc["claims"].items()
            }
    return seen


def load_baseline(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
        for entry in doc["cases"].values():
            for q in QUANTITIES:
                entry[q] = _quantity(entry[q])
        for entry in doc["claims"].values():
            entry["value"] = _quantity(entry["value"])
    except FileNotFoundError:
        raise ConfigError(f"no baseline at {path}; create one with --update-baseline") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"the baseline {path} is unreadable ({type(exc).__name__}: {exc}); restore it from git") from None
    return doc
