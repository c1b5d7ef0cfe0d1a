"""The lab: replacement cases measured over a network provider.

A ``Lab`` is given a provider of networks (``NetworkProvider``): the paper's fixture networks
(``reusebench.fixtures.networks.PaperNetworks``) or an audit's (``reusebench.fixtures.audit.AuditNetworks``). It
measures cases (replace, recalibrate, evaluate, restore), the reference metrics of a target
and its initialisation, and the structure of an architecture; it memoises them, so the
claim tests reuse the battery's measurements within a process. The experiments beside
replacement damage (``reusebench.experiments``) are functions over a lab.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy
import skimage
import torch
from torch import nn

from reusebench import groups, metrics, protocol, recalibrate as recalibration, replace as replacement, reuse
from reusebench.environment import device_name
from reusebench.inventory import kind_of, network_inventory
from reusebench.groups import TensorRef, forward_order, layers, select
from reusebench.metrics import damage, damage_interval, mean_metrics
from reusebench.profiles import FINETUNE_FIELDS, Profile
from reusebench.record_cache import RecordCache, source_digest
from reusebench.protocol import DONORS, GROUPS, RECALIBRATIONS, SCOPES, ConfigError, check_choice, donor_applies
from reusebench.recalibrate import bn_state_refs, recalibrate
from reusebench.replace import check_donor, preserved, replaced, state_digest
from reusebench.reuse import ActivationStore, StateKey


@dataclass(frozen=True)
class Case:
    """One replacement experiment: which target, which group, from which donor, how."""

    arch: str
    task: str
    group: str
    donor: str
    dataset: str = "shapes"  # the target's
    scope: str = "all"
    layer: str | None = None  # scope "layer": the module; scope "prefix": the last module of layers 1..k
    recalibration: str = "none"
    seed: int | None = None  # the target's; None: the profile's first seed

    def __post_init__(self) -> None:
        check_choice("group", self.group, GROUPS)
        check_choice("donor", self.donor, DONORS)
        check_choice("scope", self.scope, SCOPES)
        check_choice("recalibration", self.recalibration, RECALIBRATIONS)
        if not donor_applies(self.donor, self.group):
            raise ConfigError(f"donor {self.donor!r} makes no sense for group {self.group!r} (BN defaults only)")
        if (self.scope == "all") != (self.layer is None):
            raise ConfigError(f"scope {self.scope!r} {'takes no' if self.scope == 'all' else 'needs a'} layer")


@dataclass(frozen=True)
class Need:
    """A network a test will use: the target of (arch, task, seed), with a donor's network or a
    fine-tune (an R1 arm, ``FINETUNE_ARMS``, at every lr it is trained at) of it; ``seed`` None stands for every seed."""

    arch: str
    task: str
    donor: str | None = None
    finetune: str | None = None
    seed: int | None = None


PER_IMAGE = "replaced_per_image"  # a record's per-image metric of T'; kept in the record cache, not in results


class EmptyGroupError(LookupError):
    """The target network holds no tensor of the group (no BatchNorm, or convs without bias)."""


@dataclass
class Prefetch:
    """How far a worker's prefetch is: networks done of ``total``, trained of ``to_train``."""

    total: int
    to_train: int  # not in the cache when the prefetch began
    done: int = 0
    trained: int = 0
    train_seconds: float = 0.0
    last: str = ""  # the network just done
    last_trained: bool = False

    def seconds_left(self) -> float | None:
        """The time the networks still to train should take at the mean so far (None before the first)."""
        if not self.trained:
            return None
        return max(self.to_train - self.trained, 0) * self.train_seconds / self.trained


class Network(Protocol):
    """A trained network as a provider hands it out."""

    spec: Any
    model: nn.Module  # on the provider's device, in eval mode
    init_state: dict[str, torch.Tensor]  # its step-0 state (T0)
    meta: dict
    trained_now: bool


class NetworkProvider(Protocol):
    """Where a lab's networks, data and evaluation come from."""

    profile: Profile
    device: torch.device
    dataset: str

    @property
    def seeds(self) -> tuple[int, ...]: ...
    def target_spec(self, arch: str, task: str, dataset: str | None = None, seed: int | None = None) -> Any: ...
    def fixture(self, spec: Any) -> Network: ...
    def fresh(self, spec: Any) -> nn.Module: ...
    def finetuned(self, target: Any, arm: str, lr: float) -> Network: ...
    def finetune_lrs(self, arm: str) -> tuple[float, ...]: ...
    def donor_state(self, target: Network, donor: str) -> Mapping[str, torch.Tensor]: ...
    def needed(self, needs: Iterable[Need]) -> list: ...
    def stored(self, spec: Any) -> bool: ...  # whether the network loads without training
    def loaded_metas(self) -> list[dict]: ...
    def split(self, dataset: str, split: str) -> Any: ...  # .images (inputs), .targets(task)
    def metric_name(self, task: str) -> str: ...
    def evaluate_per_image(self, model: nn.Module, task: str, dataset: str) -> dict: ...
    def loss(self, task: str) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]: ...
    def structure(self, arch: str) -> tuple[nn.Module, torch.Tensor]: ...
    def digest(self, spec: Any) -> str | None: ...  # of the network's weights; None: do not cache its records
    def donor_digest(self, target: Any, donor: str) -> str | None: ...
    def source_files(self) -> list: ...  # the provider's code that a measurement runs (data, evaluation)


def record_context(networks: NetworkProvider) -> dict:
    """What every measured record depends on beside its networks and case: the code that
    measures it (this module, the protocol, metrics, groups, replacement, recalibration, reuse and the
    provider's data, evaluation and network-building code), the data and evaluation settings,
    the libraries that compute the metrics, torch, the device (its model: results differ
    across CPU models) and the CPU threads."""
    profile, device = networks.profile, networks.device
    skip = {"name", "description", "log_every", "seeds", *FINETUNE_FIELDS}  # seeds: the case and donor digests say which
    sources = [Path(__file__), protocol, metrics, groups, replacement, recalibration, reuse, *networks.source_files()]
    return {
        "code": source_digest(sources),
        "profile": {k: v for k, v in dataclasses.asdict(profile).items() if k not in skip},
        "libraries": {"torch": str(torch.__version__), "numpy": numpy.__version__, "skimage": skimage.__version__},
        "device": {"type": device.type, "name": device_name(device), "threads": torch.get_num_threads() if device.type == "cpu" else None},
    }


def whole_state_refs(model: nn.Module) -> list[TensorRef]:
    """Every entry of ``model.state_dict()`` as a TensorRef."""
    return [TensorRef(*key.rpartition(".")[::2]) for key in model.state_dict()]


class Lab:
    """Measurements over ``networks``, memoised in the process and, with ``records``, on disk."""

    def __init__(self, networks: NetworkProvider, records: RecordCache | None = None, *, reuse_mib: float = 256) -> None:
        """``reuse_mib``: the memory for activations kept for reuse (0: evaluate every case with
        a whole forward pass and every state anew; the results are the same)."""
        self.networks = networks
        self.records = records
        self.reuse = reuse_mib > 0
        # Only providers that vouch for their networks (deterministic, input-independent control
        # flow) reuse activations; every provider's cases share evaluations of equal states.
        # With reuse off the store keeps nothing and only counts the forward work.
        vouched = getattr(networks, "reuse_activations", False)
        self.activations = ActivationStore(int(reuse_mib * 2**20)) if vouched else None
        self.profile: Profile = networks.profile
        self.device: torch.device = networks.device
        self.dataset: str = networks.dataset  # the targets'
        self._memo: dict[tuple, Any] = {}

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.networks.seeds

    def target_spec(self, arch: str, task: str, dataset: str | None = None, seed: int | None = None):
        return self.networks.target_spec(arch, task, dataset, seed)

    def fixture(self, spec) -> Network:
        return self.networks.fixture(spec)

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` in this lab."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def prefetch(self, needs: Iterable[Need], worker: int, workers: int, report: Callable[["Prefetch"], None] | None = None) -> None:
        """Train or load this worker's share of the networks ``needs`` name, so workers train in parallel.

        Worker i takes networks i, i + n, ... in the provider's order (networks that others
        start from come first); a network another worker is training is waited for (file
        lock) when a test needs it, never trained twice. ``report(status)`` is called once up
        front (how many networks, how many to train) and after each network.
        """
        share = self.networks.needed(needs)[worker::workers]
        status = Prefetch(total=len(share), to_train=sum(not self.networks.stored(spec) for spec in share))
        if report:
            report(status)
        for spec in share:
            started = time.perf_counter()
            network = self.fixture(spec)
            status.done += 1
            status.last = str(getattr(spec, "label", spec))
            status.last_trained = network.trained_now
            if network.trained_now:
                status.trained += 1
                status.train_seconds += time.perf_counter() - started
            if report:
                report(status)

    # -- measurement ---------------------------------------------------------------------
    def evaluate(self, model: nn.Module, task: str, dataset: str) -> dict[str, float]:
        return mean_metrics(self.networks.evaluate_per_image(model, task, dataset))

    def _evaluate_state(self, spec, model: nn.Module, state: StateKey, *, capture: bool = False) -> dict:
        """Per-image metrics of ``model`` (``spec``'s network, now in ``state``), reusing the
        activations that earlier passes allow and, with ``capture``, keeping its own."""
        if self.activations is None:
            return self.networks.evaluate_per_image(model, spec.task, spec.dataset)
        with self.activations.pass_of(model, state, capture=capture):
            return self.networks.evaluate_per_image(model, spec.task, spec.dataset)

    def reference_metrics(self, spec) -> dict:
        """Metrics of the trained target T, of its initialisation T0 and of the damage scale's
        floor, mean and per image. The floor is the provider's best constant predictor where it
        has one (the paper's tasks), else T0 (an audit's metric of unknown kind)."""

        def compute() -> dict:
            fx = self.fixture(spec)
            trained = self._evaluate_state(spec, fx.model, StateKey(spec), capture=True)
            with replaced(fx.model, fx.init_state, whole_state_refs(fx.model)):
                init = self._evaluate_state(spec, fx.model, StateKey.whole(spec, "init"))
            trivial = getattr(self.networks, "floor_per_image", None)
            name, floor = trivial(spec.task, spec.dataset) if trivial else ("the initialisation T0", init)
            return {"trained": mean_metrics(trained), "init": mean_metrics(init), "floor": mean_metrics(floor), "floor_name": name,
                    "per_image": (trained, init), "per_image_floor": floor}

        return self.memo(("reference", spec), compute)

    def measure(self, case: Case) -> dict:
        """Replace, (recalibrate,) evaluate, restore; return the case's record. Memoised."""
        if case.seed is None:
            case = replace(case, seed=self.seeds[0])
        return self.memo(("case", case), lambda: self._load_or_measure(case))

    def _load_or_measure(self, case: Case) -> dict:
        key = self._record_key(case)
        if key is not None and (record := self.records.get(key)) is not None:
            return record
        record = self._measure(case)
        return record if key is None else self.records.put(key, record)

    def _record_key(self, case: Case) -> str | None:
        """The case's key in the record cache: its networks' digests and the case; None: not cached."""
        if self.records is None:
            return None
        spec = self.target_spec(case.arch, case.task, case.dataset, case.seed)
        target, donor = self.networks.digest(spec), self.networks.donor_digest(spec, case.donor)
        if target is None or donor is None:
            return None
        return self.records.key({"case": asdict(case), "target": target, "donor": donor})

    def _refs(self, case: Case, spec, model: nn.Module) -> tuple[list[TensorRef], list[str], list[str]]:
        """The tensors the case replaces, the modules they are in and the group's layer order:
        only modules the forward pass calls (a module never called is never replaced)."""
        order = self.group_layers(case.arch, case.group)
        modules = order
        if case.scope != "all":
            check_choice(f"{case.group} layer of {case.arch}", case.layer, order)
            position = order.index(case.layer) + 1
            modules = order[:position] if case.scope == "prefix" else [case.layer]
        refs = select(model, case.group, modules)
        if not refs:
            types, kind = kind_of(case.group)
            structure, example = self.structure(case.arch)
            count = sum(isinstance(structure.get_submodule(name), types) for name in forward_order(structure, example))
            raise EmptyGroupError(
                f"not applicable: none of the {count} {kind} of {spec.label} holds {case.group!r} tensors"
                f"{' (no BatchNorm layer is called)' if case.group.startswith('bn.') and not count else ''}; "
                "observations and verdicts on this group do not apply"
            )
        return refs, modules, order

    def state_key(self, case: Case) -> StateKey:
        """The network state the case evaluates (equal keys: the same tensors, one evaluation)."""
        if case.seed is None:
            case = replace(case, seed=self.seeds[0])
        spec = self.target_spec(case.arch, case.task, case.dataset, case.seed)
        fx = self.fixture(spec)
        refs, _, _ = self._refs(case, spec, fx.model)
        donor = self.networks.donor_state(fx, case.donor)
        check_donor(fx.model, donor, refs)
        return StateKey.of(spec, fx.model, donor, refs, case.recalibration)

    def _measure(self, case: Case) -> dict:
        spec = self.target_spec(case.arch, case.task, case.dataset, case.seed)
        fx = self.fixture(spec)
        base = self.reference_metrics(spec)
        donor = self.networks.donor_state(fx, case.donor)
        model = fx.model
        refs, modules, order = self._refs(case, spec, model)
        before = state_digest(model)
        start = time.perf_counter()
        after_images = self._evaluate_case(spec, case, model, donor, refs)
        seconds = time.perf_counter() - start
        after = mean_metrics(after_images)
        metric = self.networks.metric_name(case.task)
        m_t, m_r, m_0, m_f = base["trained"][metric], after[metric], base["init"][metric], base["floor"][metric]
        trained_images, floor_images = base["per_image"][0], base["per_image_floor"]
        return {
            **asdict(case),
            "position": None if case.scope == "all" else len(modules) if case.scope == "prefix" else order.index(case.layer) + 1,
            "n_layers": len(order),
            "metric": metric,
            "m_target": m_t,
            "m_replaced": m_r,
            "m_init": m_0,
            "m_floor": m_f,
            "floor": base["floor_name"],
            "delta": m_r - m_t,
            "damage": damage(m_t, m_r, m_f),
            "damage_ci95": damage_interval(trained_images[metric], after_images[metric], floor_images[metric]),
            PER_IMAGE: [float(v) for v in after_images[metric]],  # the claims' intervals resample images
            "metrics_target": base["trained"],
            "metrics_replaced": after,
            "metrics_init": base["init"],
            "n_tensors": len(refs),
            "n_scalars": sum(r.resolve(model).numel() for r in refs),
            "seconds": seconds,
            "restored_exactly": state_digest(model) == before,
            "device": str(self.device),
        }

    def _evaluate_case(self, spec, case: Case, model: nn.Module, donor: Mapping[str, torch.Tensor], refs: list[TensorRef]) -> dict:
        """Per-image metrics of the case's network state: evaluated once per distinct state (two
        cases that change the same tensors to the same values share it; so do all AdaBN cases
        whose donors differ in running statistics only), with activation reuse for the
        ``layer`` and ``prefix`` scopes."""
        check_donor(model, donor, refs)  # a named error for a missing or misshapen tensor, before any digest
        state = StateKey.of(spec, model, donor, refs, case.recalibration)

        def evaluate() -> dict:
            keep = bn_state_refs(model) if case.recalibration != "none" else []
            target = StateKey(spec)
            if self.activations is not None and case.scope == "layer" and not self.activations.has(target) and self.activations.can_keep(target):
                self._evaluate_state(spec, model, target, capture=True)  # the target's activations, for this layer map
            with preserved(model, keep), replaced(model, donor, refs):
                train = self.networks.split(case.dataset, "train")
                recalibrate(case.recalibration, model, train.images, batch_size=self.profile.eval_batch_size, device=self.device)
                return self._evaluate_state(spec, model, state, capture=case.scope == "prefix")

        return self.memo(("state", state), evaluate) if self.reuse else evaluate()

    def image_parts(self, case: Case) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """The case's primary metric per test image for T, T' and the damage floor (the same images for every seed)."""
        record = self.measure(case)
        spec = self.target_spec(case.arch, case.task, case.dataset, record["seed"])
        base = self.reference_metrics(spec)
        metric = record["metric"]
        parts = (base["per_image"][0][metric], record[PER_IMAGE], base["per_image_floor"][metric])
        return tuple(numpy.asarray(p, float) for p in parts)

    # -- structure ---------------------------------------------------------------------
    def structure(self, arch: str) -> tuple[nn.Module, torch.Tensor]:
        """An untrained network of ``arch`` and an example input, for tracing."""
        return self.memo(("structure", arch), lambda: self.networks.structure(arch))

    def group_layers(self, arch: str, group: str) -> list[str]:
        """The modules holding ``group``'s tensors, in the order a forward pass calls them."""
        model, example = self.structure(arch)
        held = set(layers(model, group))
        return [name for name in forward_order(model, example) if name in held]

    def inventory(self, arch: str) -> dict:
        """Group sizes ("N of M" modules each), the convs that feed BN layers, the modules no
        group covers and those the forward pass never calls (``reusebench.inventory``)."""
        return network_inventory(arch, *self.structure(arch))
