"""R1 and R2: why parameters can be reused at all.

R1 (features are general), as transfer is practised (Yosinski et al. 2014): a start made of the
`other_task` network's lower layers, with the top conv (the head) or the top half of the convs
re-initialised, fine-tuned (or frozen, only the re-initialised top training) on a slice of the
target's training data, beats the same budget from scratch; every arm and scratch choose their
learning rate on the validation split from the profile's grid. Judged at the end of the budget
(R1) and over it (R1auc: the area between the validation curves). The earlier variants (the
donor's head kept, the training lr) are an ablation. R2 (close to ideal): a donor's kernels
are much closer to the trained target's than its own initialisation is.
"""

import math

import pytest

pytestmark = pytest.mark.paper_only  # fine-tunes need the paper's tasks

import numpy as np

from reusebench import stats
from reusebench.experiments import donor_distance, finetune
from reusebench.protocol import FINETUNE_ARMS


@pytest.mark.networks("finetunes")
def test_finetune_runs(arch, task, seed, lab, record):
    """Record every arm's fine-tune (learning curves, the chosen lr, RMSE ratios) and check that
    it ran as specified."""
    p = lab.profile
    for arm in FINETUNE_ARMS:
        run = finetune(lab, arch, task, seed, arm)
        record("finetune", run)
        steps = [step for step, _ in run["curve"]]
        assert steps[0] == 0 and steps[-1] == p.finetune_steps, f"{arm}: curve covers steps {steps}"
        assert all(math.isfinite(v) for _, v in run["curve"]) and math.isfinite(run["m_test"]), run["curve"]
        assert run["lr"] in run["lr_grid"] and len(run["val_end_per_lr"]) == len(lab.networks.finetune_lrs(arm))
        assert len(run["rmse_layers"]) == len(lab.group_layers(arch, "conv.weight"))


@pytest.mark.networks("finetunes")
def test_merged_variants_follow_one_training_path(arch, task, seed, lab, suite):
    """observations.toml merges R1's `all` into `conv+bn.affine`: the running statistics they
    differ in do not enter a train-mode forward, so the trained parameters are the same (on the
    CPU bit for bit); only the running statistics differ, by momentum decay of the start values."""
    import torch

    target = lab.target_spec(arch, task, seed=seed)
    groups = {same for obs in ("R1", "R1auc") for same in suite.observations.observations[obs].same}  # R1auc repeats R1's
    for same in sorted(groups):
        nets = [lab.networks.finetuned(target, arm, lab.profile.lr).model for arm in same]
        params = [dict(n.named_parameters()) for n in nets]
        for name, value in params[0].items():
            other = params[1][name]
            same_values = torch.equal(value, other) if lab.device.type == "cpu" else torch.allclose(value, other, rtol=1e-3, atol=1e-5)
            assert same_values, f"{' vs '.join(same)} differ in {name}: not one training path"


def _r1_evidence(run: dict) -> str:
    return (f"{run['metric']} {run['m_test']:.3f} at lr {run['lr']:g} vs scratch {run['scratch_m_test']:.3f} at lr "
            f"{run['scratch_lr']:g}; full training {run['m_target']:.3f}")


@pytest.mark.claims("R1")
def test_r1_reused_start_beats_scratch(claim_case, lab, judge):
    c = claim_case
    per_seed, images = {}, []
    for seed in lab.seeds:
        run = finetune(lab, c.arch, c.task, seed, c.case)
        per_seed[seed] = (run["advantage"], _r1_evidence(run))
        images.append(run["per_image"])
    n_images = len(images[0]["arm"])
    idx = stats.resample_indices(n_images)  # the same test images for every seed, arm and scratch: one shared resample
    image_values = np.array([stats.advantage_resamples(p["arm"], p["scratch"], p["target"], p["floor"], idx) for p in images])
    judge(c, per_seed, image_values, n_images=n_images)


@pytest.mark.claims("R1auc")
def test_r1_reused_start_stays_ahead_over_the_budget(claim_case, lab, judge):
    c = claim_case
    per_seed = {}
    for seed in lab.seeds:
        run = finetune(lab, c.arch, c.task, seed, c.case)
        per_seed[seed] = (run["advantage_area"], f"end of budget {run['advantage']:.3f}; lr {run['lr']:g} vs scratch {run['scratch_lr']:g}")
    # the curves are on the validation split and kept as means: their image noise is not resampled
    judge(c, per_seed, noise="seeds (validation curves kept as means: their image noise is not in the interval)")


@pytest.mark.claims("R2")
def test_r2_donor_kernels_are_close_to_the_trained_target(claim_case, lab, record, judge):
    c = claim_case
    per_seed = {}
    for seed in lab.seeds:
        result = donor_distance(lab, c.arch, c.task, seed, c.case)
        record("donor_distance", result)
        ratios = sorted(r["ratio"] for r in result["layers"])
        per_seed[seed] = (result["median_ratio"], f"{result['n_layers']} conv layers, ratios {ratios[0]:.2f}..{ratios[-1]:.2f}")
    judge(c, per_seed, noise="seeds (a distance between weights: no test images)")
