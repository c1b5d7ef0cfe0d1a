"""Reuse of activations a replacement cannot change, and the identity of network states.

A replacement changes some tensors of the target network. Every module that a forward pass
finishes before the first changed module starts computes exactly what it computed for a
state that agrees with this one on every tensor up to there: the unreplaced target for a
``layer``-scope case, the case of layers 1..k-1 for the ``prefix``-scope case of layers
1..k. ``ActivationStore`` keeps the outputs of such modules from earlier evaluation passes
(a *capture*) and serves them to later passes instead of recomputing them.

Granularity: a *unit* is a module whose children are all leaves (``conv -> BN -> ReLU``; not a
``ModuleList``, which is never called), or a leaf with parameters or buffers outside such a
module. Units never nest, cover every
tensor of the network, and are skipped whole: a skipped unit returns a copy of its
captured output. The store refuses networks it cannot reason about (tensors held by a module
that has children; a unit called more than once per pass; outputs that are not tensors),
and a pass whose input batches differ from the capture's reuses nothing. Reuse is exact: on
the CPU the metrics are bit-identical to a plain evaluation (tests/test_reuse.py).

``StateKey`` names a network state by the target and the digests of the tensors that differ
from it, so that two cases producing the same state are evaluated once.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from reusebench.groups import TensorRef

RUNNING_ATTRS = frozenset({"running_mean", "running_var", "num_batches_tracked"})


# -- network states ----------------------------------------------------------------------------
def tensor_digest(tensor: torch.Tensor) -> str:
    """A digest of a tensor's dtype, shape and bytes."""
    t = tensor.detach().cpu().contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StateKey:
    """A network state: ``base`` (the target's identity) with the tensors ``changes`` names
    (tensor name -> digest of its value) replaced, then ``recalibration`` applied."""

    base: Any
    changes: frozenset[tuple[str, str]] = frozenset()
    recalibration: str = "none"

    @classmethod
    def of(cls, base: Any, model: nn.Module, donor: Mapping[str, torch.Tensor], refs: Sequence[TensorRef], recalibration: str = "none") -> "StateKey":
        """The state that replacing ``refs`` of ``model`` (at ``base``) by ``donor``'s values makes.

        A tensor whose donor value equals the target's changes nothing and is left out. AdaBN
        re-estimates every running statistic from scratch, so after it the running
        statistics a donor offered do not count.
        """
        changes = set()
        for ref in refs:
            if recalibration != "none" and ref.attr in RUNNING_ATTRS:
                continue
            value, own = donor[ref.name], ref.resolve(model)
            if not torch.equal(value.to(own.device), own):
                changes.add((ref.name, tensor_digest(value)))
        return cls(base, frozenset(changes), recalibration)

    @classmethod
    def whole(cls, base: Any, label: str) -> "StateKey":
        """A state that differs from ``base`` everywhere (e.g. its initialisation)."""
        return cls(base, frozenset({("*", label)}))


# -- units and captures ------------------------------------------------------------------------
def reusable(seen: StateKey, starts: dict[str, int], ends: dict[str, int], state: StateKey, owner: dict[str, str]) -> set[str]:
    """The units whose outputs a pass of ``seen`` (its units' positions ``starts``, ``ends``)
    gives exactly as a pass of ``state`` would: those that return before the first unit
    holding a tensor on which the two states differ starts."""
    if seen.base != state.base or seen.recalibration != state.recalibration:
        return set()
    theirs, ours = dict(seen.changes), dict(state.changes)
    differ = {name.rpartition(".")[0] for name in theirs.keys() | ours.keys() if theirs.get(name) != ours.get(name)}
    first = min((starts.get(owner.get(m, ""), 0) for m in differ), default=None)
    return set(starts) if first is None else {u for u, end in ends.items() if end <= first}


class ReuseUnsupported(ValueError):
    """The network does something the store cannot reason about; it is evaluated plainly."""


def units(model: nn.Module) -> dict[str, str]:
    """Map every module that holds tensors to its unit (see the module docstring)."""
    modules = dict(model.named_modules())
    owner: dict[str, str] = {}
    for name, module in modules.items():
        holds = bool(module._parameters or module._buffers)  # noqa: SLF001: direct tensors only
        children = list(module.children())
        if children and holds:
            raise ReuseUnsupported(f"module {name or '<root>'!r} holds tensors and has children")
        if holds:
            parent = name.rpartition(".")[0] if "." in name else ""
            parent_module = modules[parent]
            leaf_parent = (
                parent_module is not model
                and not isinstance(parent_module, (nn.ModuleList, nn.ModuleDict))  # containers are never called
                and all(not any(c.children()) for c in parent_module.children())
            )
            if leaf_parent and getattr(next(iter(parent_module.children())), "inplace", False):
                # a skipped unit would not apply its in-place first op to an input others share
                raise ReuseUnsupported(f"unit {parent!r} starts with an in-place operation")
            owner[name] = parent if leaf_parent else name
    if "" in owner.values():
        raise ReuseUnsupported("the network is a single module")
    return owner


@dataclass
class Capture:
    """The outputs of every unit in one evaluation pass of one state, per input batch."""

    state: StateKey
    starts: dict[str, int]  # unit -> position of its call in the pass (0, 1, ...)
    ends: dict[str, int]  # unit -> how many units had started when it returned
    inputs: list[torch.Tensor]  # the input batches, to check a later pass feeds the same
    outputs: list[dict[str, torch.Tensor]]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for batch in self.outputs for t in batch.values())


@dataclass
class ReuseStats:
    """Unit forward calls (x images) computed and reused, and the plain-evaluation count."""

    computed: int = 0  # images x units computed
    reused: int = 0  # images x units served from a capture
    needed: int = 0  # images x units a pass must compute given every earlier pass's outputs
    passes: int = 0
    plain_passes: int = 0  # passes with nothing reused

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ActivationStore:
    """Captures of recent evaluation passes, at most ``budget_bytes`` of outputs in all.

    Captures are kept least-recently-used first out; a capture is used when it is created
    and whenever a pass reuses it.
    """

    budget_bytes: int
    stats: ReuseStats = field(default_factory=ReuseStats)
    _captures: list[Capture] = field(default_factory=list)  # least recently used first
    _history: list[tuple[StateKey, dict[str, int], dict[str, int]]] = field(default_factory=list)  # every pass: state, positions
    _units: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)  # model -> units
    _refused: weakref.WeakSet = field(default_factory=weakref.WeakSet)
    _too_big: set = field(default_factory=set)  # bases whose capture did not fit the budget

    def has(self, state: StateKey) -> bool:
        return any(c.state == state for c in self._captures)

    def can_keep(self, state: StateKey) -> bool:
        """Whether a capture of ``state`` may be kept: memory is budgeted and its network's
        captures have fitted so far (a paper-sized network may never fit a small budget)."""
        return self.budget_bytes > 0 and state.base not in self._too_big

    def _source(self, state: StateKey, owner: dict[str, str]) -> tuple[Capture | None, set[str]]:
        """The capture that lets a pass of ``state`` skip the most units, and those units."""
        best, best_units = None, set()
        for capture in self._captures:
            skip = reusable(capture.state, capture.starts, capture.ends, state, owner)
            if len(skip) > len(best_units):
                best, best_units = capture, skip
        return best, best_units

    def _needed(self, state: StateKey, owner: dict[str, str], n_units: int) -> int:
        """How many units a pass of ``state`` must compute with every earlier pass captured."""
        skip = max((len(reusable(s, starts, ends, state, owner)) for s, starts, ends in self._history), default=0)
        return n_units - skip

    @contextmanager
    def pass_of(self, model: nn.Module, state: StateKey, *, capture: bool = True) -> Iterator[None]:
        """Within the block, evaluation passes of ``model`` (in ``state``) reuse what an earlier
        capture allows and, with ``capture``, record a capture of their own.

        The block must run the model over the same batches, in the same order, as the pass
        that made the capture (the provider's evaluation does); a batch that differs reuses
        nothing from there on.
        """
        if model in self._refused or model.training:
            yield
            return
        try:
            owner = self._units[model] if model in self._units else self._units.setdefault(model, units(model))
        except ReuseUnsupported:
            self._refused.add(model)
            yield
            return
        modules = dict(model.named_modules())
        unit_names = sorted(set(owner.values()))
        source, skip = self._source(state, owner)
        wanted = capture and self.budget_bytes > 0 and state.base not in self._too_big
        rec = _Recorder(source, skip, wanted, self.budget_bytes)
        handles = [model.register_forward_pre_hook(rec.on_root)]
        originals = {}
        for name in unit_names:
            module = modules[name]
            handles.append(module.register_forward_pre_hook(lambda m, args, name=name: rec.on_start(name)))
            handles.append(module.register_forward_hook(lambda m, args, out, name=name: rec.on_end(name, out)))
            if name in skip:
                originals[name] = module.__dict__.get("forward")
                module.forward = rec.forward_of(name, module)
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            for name, original in originals.items():
                if original is None:
                    del modules[name].forward
                else:
                    modules[name].forward = original
        if rec.too_big:
            self._too_big.add(state.base)
        self.stats.passes += 1
        self.stats.computed += rec.computed
        self.stats.reused += rec.reused
        self.stats.plain_passes += rec.reused == 0
        if source is not None and rec.reused:
            self._touch(source)
        if rec.error is not None:
            self._refused.add(model)
            return
        images = sum(len(x) for x in rec.inputs)
        self.stats.needed += images * self._needed(state, owner, len(rec.starts))
        if not any(s == state for s, _, _ in self._history):
            self._history.append((state, rec.starts, rec.ends))
        complete = all(batch.keys() == rec.starts.keys() for batch in rec.outputs)
        if rec.capture and rec.outputs and complete and not self.has(state):
            self._keep(Capture(state, rec.starts, rec.ends, rec.inputs, rec.outputs))

    def _touch(self, capture: Capture) -> None:
        self._captures.remove(capture)
        self._captures.append(capture)

    def _keep(self, capture: Capture) -> None:
        if capture.nbytes > self.budget_bytes:
            return
        self._captures.append(capture)
        while sum(c.nbytes for c in self._captures) > self.budget_bytes:
            self._captures.pop(0)

    def clear(self) -> None:
        self._captures.clear()


class _Recorder:
    """Hooks of one evaluation pass: positions, captured outputs, served outputs."""

    def __init__(self, source: Capture | None, skip: set[str], capture: bool, budget_bytes: int = 0) -> None:
        self.source, self.skip, self.capture = source, skip, capture
        self.budget_bytes, self.captured_bytes = budget_bytes, 0
        self.too_big = False  # the capture outgrew the budget: dropped, and not attempted again
        self.seen: set[str] = set()
        self.batch = -1
        self.serving = False  # this batch matches the source's
        self.counter = 0
        self.starts: dict[str, int] = {}
        self.ends: dict[str, int] = {}
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[dict[str, torch.Tensor]] = []
        self.computed = self.reused = 0
        self.error: str | None = None

    def on_root(self, module: nn.Module, args: tuple) -> None:
        self.batch += 1
        self.counter = 0
        self.seen: set[str] = set()
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor):
            self.error = "the network's input is not a tensor"
            x = torch.empty(0)
        s = self.source
        self.serving = (
            s is not None and self.batch < len(s.inputs) and s.inputs[self.batch].shape == x.shape and torch.equal(s.inputs[self.batch], x)
        )
        self.inputs.append(x.detach().clone())
        self.outputs.append({})

    def on_start(self, name: str) -> None:
        if name in self.seen:
            self.error = f"unit {name!r} is called twice in one pass"
        self.seen.add(name)
        if self.batch == 0:
            self.starts[name] = self.counter
        self.counter += 1

    def on_end(self, name: str, out: Any) -> None:
        if not isinstance(out, torch.Tensor):
            self.error = f"unit {name!r} returns a {type(out).__name__}, not a tensor"
            return
        if self.batch == 0:
            self.ends[name] = self.counter
        images = out.shape[0] if out.dim() else 1
        if self.serving and name in self.skip:
            self.reused += images
            if self.capture:
                self.outputs[-1][name] = self.source.outputs[self.batch][name]  # shared, never written
        else:
            self.computed += images
            if self.capture:
                self.outputs[-1][name] = out.detach().clone()
        if self.capture:
            self.captured_bytes += out.numel() * out.element_size()
            if self.captured_bytes > self.budget_bytes:  # stop copying at once, not after the pass
                self.capture, self.too_big = False, True
                self.outputs = [{} for _ in self.outputs]

    def forward_of(self, name: str, module: nn.Module):
        plain = type(module).forward.__get__(module)

        def forward(*args, **kwargs):
            if self.serving:
                return self.source.outputs[self.batch][name].clone()
            return plain(*args, **kwargs)

        return forward
