"""Timing cases, per architecture: what a run of the suite spends its time on.

Recorded in pytest-benchmark's JSON format (``results/<profile>/benchmark.json``), also
under xdist; ``pytest benchmarks -m timing`` without xdist uses pytest-benchmark itself.
"""

import pytest
import torch

from reusebench.fixtures.training import train_step
from reusebench.groups import select
from reusebench.recalibrate import adabn, bn_state_refs
from reusebench.replace import preserved, replaced

pytestmark = [pytest.mark.timing, pytest.mark.paper_only]
ROUNDS = 10


def test_train_step(arch, lab, timed):
    p = lab.profile
    spec = lab.target_spec(arch, "seg")
    model = lab.networks.fresh(spec).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=p.lr)
    train = lab.networks.split(spec.dataset, "train")
    images, masks = train.images[: p.batch_size].to(lab.device), train.masks[: p.batch_size].to(lab.device)
    timed(lambda: train_step(model, optimiser, "seg", images, masks), rounds=ROUNDS, group="train step")


def test_evaluate(arch, lab, timed):
    model = lab.fixture(lab.target_spec(arch, "seg")).model
    timed(lambda: lab.evaluate(model, "seg", lab.dataset), rounds=ROUNDS, group="evaluate")


def test_replace_evaluate_restore(arch, lab, timed):
    fx = lab.fixture(lab.target_spec(arch, "seg"))
    refs = select(fx.model, "conv.weight")

    def case():
        with replaced(fx.model, fx.init_state, refs):
            return lab.evaluate(fx.model, "seg", lab.dataset)

    timed(case, rounds=ROUNDS, group="replace + evaluate + restore")


def test_adabn_recalibration(arch, lab, timed):
    fx = lab.fixture(lab.target_spec(arch, "seg"))
    train = lab.networks.split(lab.dataset, "train")

    def recalibrate():
        with preserved(fx.model, bn_state_refs(fx.model)):
            adabn(fx.model, train.images, batch_size=lab.profile.eval_batch_size, device=lab.device)

    timed(recalibrate, rounds=ROUNDS, group="adabn")
