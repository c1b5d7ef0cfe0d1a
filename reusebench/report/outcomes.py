"""A claim record's outcome against its expected status (``benchmarks/observations.toml``).

Outcomes are three (``reusebench.stats``): holds, does not hold, inconclusive. Expected
statuses are two: a cell listed as an expected failure is expected not to hold; every other
cell is expected to hold. A flip between holds and does-not-hold is a surprise that fails the
run; a move into or out of inconclusive is reported, not failed.
"""

from __future__ import annotations

from reusebench.claims import AUDIT_EXPECTATION
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE


def status(claim: dict) -> str:
    """holds / does not hold / inconclusive / undefined (records of the old rule: holds or not)."""
    return claim.get("outcome") or (HOLDS if claim["holds"] else FAILS)


def outcome(claim: dict) -> str:
    s = status(claim)
    if claim["expected"] == AUDIT_EXPECTATION:
        return s
    expected_hold = claim["expected"] == "holds"
    if s == HOLDS:
        return "holds" if expected_hold else "holds, but expected to fail (flip!)"
    if s == FAILS:
        return "does not hold (expected)" if not expected_hold else "does not hold (regression!)"
    if s == INCONCLUSIVE:
        return f"inconclusive (expected {'to hold' if expected_hold else 'not to hold'})"
    return s


def is_surprise(claim: dict) -> bool:
    """A flip between holds and does-not-hold against the expectation (never for an audit)."""
    if claim["expected"] == AUDIT_EXPECTATION:
        return False
    s = status(claim)
    return (s == HOLDS and claim["expected"] != "holds") or (s == FAILS and claim["expected"] == "holds")


def counts(claims: list[dict]) -> dict[str, int]:
    """How many cells hold, do not hold, are inconclusive (and undefined)."""
    out = {HOLDS: 0, FAILS: 0, INCONCLUSIVE: 0}
    for c in claims:
        out[status(c)] = out.get(status(c), 0) + 1
    return out


def evidence(claims: list[dict]) -> list[dict]:
    """The cells that are evidence about the paper (not machinery checks)."""
    return [c for c in claims if c.get("tier", "evidence") == "evidence"]
