"""O1-O4: the paper's four observations, per architecture x task x donor.

Each test arranges the trained target, replaces the groups the observation is about with
the donor's tensors, and asserts on the damage. Thresholds and the configurations where
an observation is known not to reproduce (strict xfail) live in ``observations.toml``.
"""

import pytest

from fixtures.lab import Case, EmptyGroupError


def test_observation(observation_case, lab, record):
    c = observation_case
    try:
        damages = {g: lab.measure(Case(c.arch, c.task, g, c.donor, lab.dataset))["damage"] for g in c.observation.terms}
    except EmptyGroupError as exc:
        pytest.skip(str(exc))

    verdict = c.observation.evaluate(damages)

    record(
        "claim",
        {
            "observation": c.observation.id,
            "statement": c.observation.statement,
            "arch": c.arch,
            "task": c.task,
            "donor": c.donor,
            "damages": verdict.damages,
            "value": verdict.value,
            "op": c.observation.op,
            "threshold": c.observation.threshold,
            "holds": verdict.holds,
            "expected": c.expected,
            "evidence": verdict.evidence,
        },
    )
    verdict.check()

