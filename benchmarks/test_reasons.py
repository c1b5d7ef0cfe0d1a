"""R1 and R2: why parameters can be reused at all.

R1 (features are general): starting from the `other_task` network's parameters (all of them,
the convs only, or the convs and BN affine without the running statistics), a short fine-tune
on a slice of the target's training data beats the same budget from scratch. R2 (close to
ideal): that fine-tune moves the donor's kernels much less than full training moves the
initialisation. The slice and budget are profile fields (finetune_n, finetune_steps).
"""

import math

import pytest

pytestmark = pytest.mark.paper_only  # fine-tunes need the paper's tasks

from reusebench.experiments import finetune
from reusebench.protocol import REUSE_VARIANTS


@pytest.mark.networks("finetunes")
def test_finetune_runs(arch, task, seed, lab, record):
    """Record every fine-tune (learning curves, RMSE ratios) and check that it ran as specified."""
    p = lab.profile
    for variant in REUSE_VARIANTS:
        run = finetune(lab, arch, task, seed, variant)
        record("finetune", run)
        steps = [step for step, _ in run["curve"]]
        assert steps[0] == 0 and steps[-1] == p.finetune_steps, f"{variant}: curve covers steps {steps}"
        assert all(math.isfinite(v) for _, v in run["curve"]) and math.isfinite(run["m_test"]), run["curve"]
        if variant != "scratch":
            assert len(run["rmse_layers"]) == len(lab.group_layers(arch, "conv.weight"))


@pytest.mark.networks("finetunes")
def test_merged_variants_follow_one_training_path(arch, task, seed, lab, suite):
    """observations.toml merges R1/R2's `all` into `conv+bn.affine`: the running statistics they
    differ in do not enter a train-mode forward, so the trained parameters are the same (on the
    CPU bit for bit); only the running statistics differ, by momentum decay of the start values."""
    import torch

    for obs in ("R1", "R2"):
        for same in suite.observations.observations[obs].same:
            nets = [lab.networks.finetuned(lab.target_spec(arch, task, seed=seed), v).model for v in same]
            params = [dict(n.named_parameters()) for n in nets]
            for name, value in params[0].items():
                other = params[1][name]
                same_values = torch.equal(value, other) if lab.device.type == "cpu" else torch.allclose(value, other, rtol=1e-3, atol=1e-5)
                assert same_values, f"{obs}: {' vs '.join(same)} differ in {name}: not one training path"


@pytest.mark.claims("R1")
def test_r1_reused_start_beats_scratch(claim_case, lab, judge):
    c = claim_case
    per_seed = {}
    for seed in lab.seeds:
        run, scratch = finetune(lab, c.arch, c.task, seed, c.case), finetune(lab, c.arch, c.task, seed, "scratch")
        per_seed[seed] = (run["advantage"], f"{run['metric']} {run['m_test']:.3f} vs scratch {scratch['m_test']:.3f}, full training {run['m_target']:.3f}")
    judge(c, per_seed)


@pytest.mark.claims("R2")
def test_r2_finetune_stays_close_to_the_donor(claim_case, lab, judge):
    c = claim_case
    per_seed = {}
    for seed in lab.seeds:
        run = finetune(lab, c.arch, c.task, seed, c.case)
        per_seed[seed] = (
            run["median_ratio"],
            f"scratch control {run['control_median_ratio']:.3f}, donor-to-trained-target {run['donor_to_target_median_ratio']:.3f}",
        )
    judge(c, per_seed)
