import math

import pytest
import torch

from reusebench.lab import Case, whole_state_refs
from reusebench.groups import select
from reusebench.metrics import ae_metrics, damage, seg_metrics
from reusebench.protocol import PRIMARY_METRIC
from reusebench.replace import replaced


def test_damage_formula():
    assert damage(0.8, 0.8, 0.2) == 0.0
    assert damage(0.8, 0.2, 0.2) == 1.0
    assert damage(0.8, 0.5, 0.2) == pytest.approx(0.5)
    assert damage(0.8, 0.1, 0.2) > 1.0
    assert math.isnan(damage(0.8, math.nan, 0.2))
    assert math.isnan(damage(0.2, 0.1, 0.2)), "undefined when the network never beat its initialisation"


def test_seg_metrics():
    masks = torch.zeros(2, 1, 4, 4)
    masks[:, :, :2] = 1
    assert seg_metrics(masks * 20 - 10, masks) == {"dice": 1.0, "iou": 1.0}
    assert seg_metrics(10 - masks * 20, masks) == {"dice": 0.0, "iou": 0.0}
    assert all(math.isnan(v) for v in seg_metrics(torch.full_like(masks, math.nan), masks).values())


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # PSNR of identical images is inf
def test_ae_metrics():
    images = torch.rand(2, 1, 16, 16)
    assert ae_metrics(images, images)["ssim"] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in ae_metrics(torch.full_like(images, math.inf), images).values())


# Tiny networks that clearly beat their initialisation, so that damage is defined (a tiny
# auto-encoder does not learn to denoise the photon-starved nuclei in 60 steps; shapes it does).
LEARNERS = [("unet", "seg", "nuclei"), ("unet", "ae", "shapes"), ("pspnet", "ae", "shapes")]


@pytest.mark.parametrize("arch, task, dataset", LEARNERS)
def test_noop_replacement_has_zero_damage(tiny_lab, arch, task, dataset):
    spec = tiny_lab.target_spec(arch, task, dataset)
    fx = tiny_lab.fixture(spec)
    own = {k: v.clone() for k, v in fx.model.state_dict().items()}
    base = tiny_lab.reference_metrics(spec)
    metric = PRIMARY_METRIC[task]
    with replaced(fx.model, own, whole_state_refs(fx.model)):
        after = tiny_lab.evaluate(fx.model, task, dataset)
    assert damage(base["trained"][metric], after[metric], base["init"][metric]) == 0.0


@pytest.mark.parametrize("arch, task, dataset", LEARNERS)
def test_whole_network_by_its_initialisation_has_damage_one(tiny_lab, arch, task, dataset):
    spec = tiny_lab.target_spec(arch, task, dataset)
    fx = tiny_lab.fixture(spec)
    base = tiny_lab.reference_metrics(spec)
    metric = PRIMARY_METRIC[task]
    assert base["trained"][metric] > base["init"][metric], "the tiny network must learn for damage to be defined"
    every_group = [r for g in ("conv.weight", "conv.bias", "bn.affine", "bn.running") for r in select(fx.model, g)]
    with replaced(fx.model, fx.init_state, every_group):
        after = tiny_lab.evaluate(fx.model, task, dataset)
    assert damage(base["trained"][metric], after[metric], base["init"][metric]) == 1.0


def test_lab_case_record_is_complete_and_restores(tiny_lab):
    record = tiny_lab.measure(Case("unet", "seg", "conv.weight", "init"))
    assert record["restored_exactly"]
    assert record["delta"] == record["m_replaced"] - record["m_target"]
    assert record["n_tensors"] == len(select(tiny_lab.fixture(tiny_lab.target_spec("unet", "seg")).model, "conv.weight"))
    assert tiny_lab.measure(Case("unet", "seg", "conv.weight", "init")) is record, "memoised"
