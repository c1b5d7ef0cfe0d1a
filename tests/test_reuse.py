"""Activation reuse and shared evaluation of equal network states: less work, the same numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reusebench.fixtures.networks import PaperNetworks
from reusebench.groups import TensorRef
from reusebench.lab import Case, Lab
from reusebench.metrics import predict
from reusebench.reuse import ActivationStore, ReuseUnsupported, StateKey, units

VOLATILE = ("seconds",)  # wall time: the one field that may differ between two measurements


def records(lab: Lab, cases: list[Case]) -> list[dict]:
    return [{k: v for k, v in lab.measure(c).items() if k not in VOLATILE} for c in cases]


def layer_cases(lab: Lab, arch: str, task: str, group: str, donor: str, scope: str) -> list[Case]:
    return [Case(arch, task, group, donor, scope=scope, layer=name) for name in lab.group_layers(arch, group)]


@pytest.mark.parametrize("arch", ["unet", "pspnet"])
@pytest.mark.parametrize("scope", ["layer", "prefix"])
def test_reused_activations_give_bit_identical_records(store, arch, scope):
    plain, reusing = Lab(PaperNetworks(store), reuse_mib=0), Lab(PaperNetworks(store))
    cases = layer_cases(plain, arch, "ae", "conv.weight", "init", scope) + layer_cases(plain, arch, "seg", "bn.running", "other_seed", scope)
    assert records(reusing, cases) == records(plain, cases)
    stats = reusing.activations.stats
    assert stats.reused > 0, "later layers reuse the activations before them"
    assert stats.computed < plain.activations.stats.computed
    assert stats.needed <= stats.computed
    assert plain.activations.stats.reused == 0


def test_cases_that_make_the_same_state_are_evaluated_once(store):
    # AdaBN re-estimates the running statistics: whatever a donor put there, the state after
    # it is the target's own recalibrated state; so is replacing running stats by the defaults
    # vs the initialisation (both 0 and 1).
    lab = Lab(PaperNetworks(store))
    plain = Lab(PaperNetworks(store), reuse_mib=0)
    same = [Case("unet", "seg", group, donor, recalibration="adabn")
            for group in ("bn.running", "bn.running_mean") for donor in ("other_seed", "init", "defaults")]
    shared_init = [Case("unet", "seg", "bn.running", "init"), Case("unet", "seg", "bn.running", "defaults")]
    before = lab.activations.stats.passes
    got = records(lab, same + shared_init)
    assert got == records(plain, same + shared_init)
    assert lab.activations.stats.passes - before == 2 + 2, "the reference passes (trained, init) + one per distinct state"
    assert len({r["m_replaced"] for r in got[: len(same)]}) == 1


def test_different_states_are_not_shared(store):
    lab = Lab(PaperNetworks(store))
    a, b = (lab.measure(Case("unet", "ae", "conv.weight", d)) for d in ("init", "rerandom"))
    assert a["m_replaced"] != b["m_replaced"]


class Twice(nn.Module):
    """Calls one unit twice per pass: the store must refuse it, not serve a stale output."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())
        self.last = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.last(self.block(self.block(x)))


def test_a_unit_called_twice_is_never_reused():
    torch.manual_seed(0)
    model, x = Twice().eval(), torch.randn(4, 1, 8, 8)
    store = ActivationStore(2**20)
    key = StateKey("twice")
    with store.pass_of(model, key):
        plain = predict(model, x, batch_size=2, device=torch.device("cpu"))
    with torch.no_grad():
        model.last.weight.mul_(2)
    with store.pass_of(model, StateKey("twice", frozenset({("last.weight", "doubled")}))):
        doubled = predict(model, x, batch_size=2, device=torch.device("cpu"))
    assert store.stats.reused == 0 and not store.has(key)
    assert torch.equal(doubled, predict(model, x, batch_size=2, device=torch.device("cpu")))
    assert not torch.equal(doubled, plain)


def test_other_input_batches_reuse_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Sequential(nn.Conv2d(2, 1, 1), nn.ReLU())).eval()
    store = ActivationStore(2**20)
    with store.pass_of(model, StateKey("m")):
        predict(model, torch.randn(4, 1, 8, 8), batch_size=2, device=torch.device("cpu"))
    changed = StateKey("m", frozenset({("1.0.weight", "x")}))
    x = torch.randn(4, 1, 8, 8)
    with store.pass_of(model, changed, capture=False):
        out = predict(model, x, batch_size=2, device=torch.device("cpu"))
    assert store.stats.reused == 0
    assert torch.equal(out, predict(model, x, batch_size=2, device=torch.device("cpu")))


def test_the_same_inputs_reuse_the_unchanged_prefix():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Sequential(nn.Conv2d(2, 1, 1), nn.ReLU())).eval()
    x = torch.randn(4, 1, 8, 8)
    store = ActivationStore(2**20)
    with store.pass_of(model, StateKey("m")):
        predict(model, x, batch_size=2, device=torch.device("cpu"))
    ref = TensorRef("1.0", "weight")
    with torch.no_grad():
        ref.resolve(model).add_(1)
    with store.pass_of(model, StateKey("m", frozenset({(ref.name, "plus-one")})), capture=False):
        out = predict(model, x, batch_size=2, device=torch.device("cpu"))
    assert store.stats.reused == 4, "unit '0' for 4 images"
    assert torch.equal(out, predict(model, x, batch_size=2, device=torch.device("cpu")))


def test_captures_stay_within_the_budget():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)), nn.Sequential(nn.Conv2d(4, 1, 1))).eval()
    x = torch.randn(8, 1, 16, 16)
    store = ActivationStore(8 * 16 * 16 * 5 * 4)  # one capture: 8 images x (4 + 1) channels, float32
    for i in range(3):
        with store.pass_of(model, StateKey(i)):
            predict(model, x, batch_size=4, device=torch.device("cpu"))
    assert [store.has(StateKey(i)) for i in range(3)] == [False, False, True]
    tiny = ActivationStore(10)
    with tiny.pass_of(model, StateKey(0)):
        predict(model, x, batch_size=4, device=torch.device("cpu"))
    assert not tiny.has(StateKey(0))


def test_units_refuse_tensors_beside_children_and_split_module_lists():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.conv = nn.Conv2d(1, 1, 1)

    with pytest.raises(ReuseUnsupported, match="holds tensors and has children"):
        units(Holder())
    owner = units(nn.Sequential(nn.ModuleList([nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1)]), nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())))
    assert owner == {"0.0": "0.0", "0.1": "0.1", "1.0": "1"}


def test_the_state_key_ignores_donor_values_equal_to_the_target(store):
    lab = Lab(PaperNetworks(store))
    fx = lab.fixture(lab.target_spec("unet", "seg"))
    refs = [TensorRef("inc.0.1", "weight")]
    own = {refs[0].name: refs[0].resolve(fx.model).clone()}
    assert StateKey.of("t", fx.model, own, refs) == StateKey("t")
    other = {refs[0].name: own[refs[0].name] + 1}
    assert StateKey.of("t", fx.model, other, refs) != StateKey("t")
    running = [TensorRef("inc.0.1", "running_mean")]
    moved = {running[0].name: running[0].resolve(fx.model) + 1}
    assert StateKey.of("t", fx.model, moved, running, "adabn") == StateKey("t", recalibration="adabn")
    assert not math.isnan(lab.measure(Case("unet", "seg", "bn.weight", "init"))["m_replaced"])


def test_a_capture_over_budget_stops_copying_and_is_not_retried():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1)), nn.Sequential(nn.Conv2d(4, 1, 1))).eval()
    x = torch.randn(8, 1, 16, 16)
    store = ActivationStore(8 * 16 * 16 * 4 * 4)  # room for the first unit's outputs only
    with store.pass_of(model, StateKey("m")):
        predict(model, x, batch_size=4, device=torch.device("cpu"))
    assert not store.has(StateKey("m")) and not store.can_keep(StateKey("m"))
    assert store.can_keep(StateKey("other network"))


def test_with_reuse_off_nothing_is_evaluated_twice(store):
    # --reuse-memory 0 is the plain evaluation the speed figures compare against: no pass
    # that only prepares reuse (a layer case's capture of its target) may run.
    plain = Lab(PaperNetworks(store), reuse_mib=0)
    cases = layer_cases(plain, "unet", "seg", "conv.weight", "init", "layer")
    for c in cases:
        plain.measure(c)
    assert plain.activations.stats.passes == 2 + len(cases), "trained + init reference passes, one per case"


def test_a_unit_starting_in_place_is_refused():
    with pytest.raises(ReuseUnsupported, match="in-place"):
        units(nn.Sequential(nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(1, 1, 1))))


def test_a_missing_donor_tensor_is_named(store):
    from reusebench.replace import MissingDonorTensorError

    lab = Lab(PaperNetworks(store))
    fx = lab.fixture(lab.target_spec("unet", "seg"))
    donor = {k: v for k, v in fx.model.state_dict().items() if k != "inc.0.0.weight"}
    lab.networks.donor_state = lambda target, name: donor
    with pytest.raises(MissingDonorTensorError, match="inc.0.0.weight"):
        lab.measure(Case("unet", "seg", "conv.weight", "other_seed"))
