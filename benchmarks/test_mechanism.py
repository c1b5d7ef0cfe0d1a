"""M1: the mechanism behind O4. A conv whose output goes straight into BN has its bias cancelled
by BN's mean subtraction in training mode: numerically no gradient, so the bias stays near its
initial value (as far as the optimiser lets it), while biases that feed no BN (output heads,
UNet's transposed convs) get gradients and move. O4r (test_observations) shows the consequence.
"""

import statistics

import pytest

from reusebench.experiments import bias_gradients

pytestmark = pytest.mark.paper_only  # uses the paper's training losses


def test_bias_gradients(arch, task, seed, lab, record):
    """Record each conv's bias and weight gradients and drift; the split into feeding-BN or not must be real."""
    result = bias_gradients(lab, arch, task, seed)
    record("bias_gradient", result)
    fed = [r for r in result["layers"] if r["feeds_bn"]]
    assert fed and len(fed) < len(result["layers"]), "need convs that feed BN and convs that do not"
    assert all(r["weight_grad_abs_max"] > 0 for r in result["layers"]), "every conv weight gets a gradient"


@pytest.mark.claims("M1")
def test_m1_bias_feeding_bn(claim_case, lab, judge):
    c = claim_case
    per_seed = {}
    for seed in lab.seeds:
        rows = bias_gradients(lab, c.arch, c.task, seed)["layers"]
        fed, free = [r for r in rows if r["feeds_bn"]], [r for r in rows if not r["feeds_bn"]]
        if c.case == "gradient":
            a, b = max(r["grad_abs_max"] for r in fed), max(r["grad_abs_max"] for r in free)
            evidence = f"max |grad| {a:.1e} (feeding BN) vs {b:.1e} (others)"
        else:
            a, b = statistics.median(r["drift"] for r in fed), statistics.median(r["drift"] for r in free)
            evidence = f"median bias drift {a:.1e} (feeding BN) vs {b:.1e} (others)"
        per_seed[seed] = (a / b, evidence)
    judge(c, per_seed, noise="seeds (gradients on a training batch and weight drift: no test images)")
