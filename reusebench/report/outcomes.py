"""A claim record's outcome against its expected status (``benchmarks/observations.toml``)."""

from __future__ import annotations

from reusebench.claims import AUDIT_EXPECTATION


def outcome(claim: dict) -> str:
    expected_hold = claim["expected"] == "holds"
    if claim["expected"] == AUDIT_EXPECTATION:
        return "holds" if claim["holds"] else "does not hold"
    if claim["holds"]:
        return "holds" if expected_hold else "holds, but expected to fail (flip!)"
    return "does not hold (expected)" if not expected_hold else "does not hold (regression!)"


def is_surprise(claim: dict) -> bool:
    """The claim's status differs from the expected one (never for an audit, which expects nothing)."""
    return claim["expected"] != AUDIT_EXPECTATION and claim["holds"] != (claim["expected"] == "holds")
