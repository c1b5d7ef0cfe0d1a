"""A claim record's outcome against its calibrated status (``benchmarks/observations.toml``).

Outcomes are three (``reusebench.stats``): holds, does not hold, inconclusive. Each cell's
calibrated status is one of the three too (or "not calibrated"); a machinery cell is expected
to hold. Only a contradiction, calibrated holds and now does not hold or the reverse, fails a
run ("flip!"). A move into or out of inconclusive is reported ("moved"), never failed: another
CPU model, torch build or GPU trains slightly different networks, and an interval near its
threshold may then straddle it or not.
"""

from __future__ import annotations

from reusebench.claims import AUDIT_EXPECTATION, NOT_CALIBRATED, is_contradiction, move
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE

LEGACY = {"fails": FAILS}  # records written before 2026-12-02 said "fails" for a calibrated "does not hold"


def status(claim: dict) -> str:
    """holds / does not hold / inconclusive / undefined (records of the old rule: holds or not)."""
    return claim.get("outcome") or (HOLDS if claim["holds"] else FAILS)


def expected(claim: dict) -> str:
    """The cell's calibrated status as the record says it."""
    return LEGACY.get(claim["expected"], claim["expected"])


def outcome(claim: dict) -> str:
    s, e = status(claim), expected(claim)
    if e == AUDIT_EXPECTATION:
        return s
    if is_contradiction(e, s):
        return f"{s} (flip! calibrated: {e})"
    if claim.get("tier") == "machinery" and s == INCONCLUSIVE:
        return "inconclusive (machinery: not broken, the interval could not tell)"
    if moved := move(e, s):
        return f"{s} (moved: {moved})"
    if e == NOT_CALIBRATED:
        return f"{s} (not calibrated)"
    if s == FAILS:
        return "does not hold (expected)"
    return s


def is_surprise(claim: dict) -> bool:
    """A flip between holds and does-not-hold against the calibrated status (never for an audit)."""
    return is_contradiction(expected(claim), status(claim))


def is_move(claim: dict) -> bool:
    """A calibrated cell that moved into or out of inconclusive: reported, not failed. (A machinery
    cell is expected to hold by construction, not by calibration: its inconclusive is listed with
    the machinery checks, "not broken".)"""
    return claim.get("tier") != "machinery" and move(expected(claim), status(claim)) is not None


def is_broken(claim: dict) -> bool:
    """A machinery check that does not hold (or is undefined): the code is wrong. Inconclusive is
    not broken: the interval could not tell."""
    return claim.get("tier") == "machinery" and status(claim) not in (HOLDS, INCONCLUSIVE)


def counts(claims: list[dict]) -> dict[str, int]:
    """How many cells hold, do not hold, are inconclusive (and undefined)."""
    out = {HOLDS: 0, FAILS: 0, INCONCLUSIVE: 0}
    for c in claims:
        out[status(c)] = out.get(status(c), 0) + 1
    return out


def evidence(claims: list[dict]) -> list[dict]:
    """The cells that are evidence about the paper (not machinery checks, not ablations)."""
    return [c for c in claims if c.get("tier", "evidence") == "evidence"]
