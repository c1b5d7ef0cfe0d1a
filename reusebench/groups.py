"""Parameter groups, selected by module type (never by name), so that any PyTorch CNN can be audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm

from reusebench.protocol import GROUPS, check_choice

BN_TYPES: tuple[type[nn.Module], ...] = (_BatchNorm,)  # BatchNorm1d/2d/3d and SyncBatchNorm
CONV_TYPES: tuple[type[nn.Module], ...] = (_ConvNd,)  # Conv1d/2d/3d and ConvTranspose1d/2d/3d
# Normalisation with learned affine parameters but no running statistics.
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.GroupNorm, nn.LayerNorm, _InstanceNorm)

_GROUP_SPEC: dict[str, tuple[tuple[type[nn.Module], ...], tuple[str, ...]]] = {
    "bn.running_mean": (BN_TYPES, ("running_mean",)),
    "bn.running_var": (BN_TYPES, ("running_var",)),
    "bn.running": (BN_TYPES, ("running_mean", "running_var")),
    "bn.weight": (BN_TYPES, ("weight",)),
    "bn.bias": (BN_TYPES, ("bias",)),
    "bn.affine": (BN_TYPES, ("weight", "bias")),
    "conv.weight": (CONV_TYPES, ("weight",)),
    "conv.bias": (CONV_TYPES, ("bias",)),
    "norm.weight": (NORM_TYPES, ("weight",)),
    "norm.bias": (NORM_TYPES, ("bias",)),
    "norm.affine": (NORM_TYPES, ("weight", "bias")),
}
assert tuple(_GROUP_SPEC) == GROUPS


@dataclass(frozen=True)
class TensorRef:
    """One parameter or buffer of one module: ``module.attr``, its ``state_dict`` key is ``name``."""

    module: str
    attr: str

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}" if self.module else self.attr

    def resolve(self, model: nn.Module) -> torch.Tensor:
        return getattr(model.get_submodule(self.module), self.attr)


def layers(model: nn.Module, group: str) -> list[str]:
    """Names of the modules that hold tensors of ``group``, in registration order."""
    return list(dict.fromkeys(ref.module for ref in select(model, group)))


def select(model: nn.Module, group: str, modules: Sequence[str] | None = None) -> list[TensorRef]:
    """Every tensor of ``group`` in ``model`` (optionally only in the named ``modules``).

    Absent tensors (a conv built with ``bias=False``, BN without affine or running stats)
    are simply not selected.
    """
    types, attrs = _GROUP_SPEC[check_choice("parameter group", group, GROUPS)]
    wanted = None if modules is None else set(modules)
    refs = []
    for name, module in model.named_modules():
        if not isinstance(module, types) or (wanted is not None and name not in wanted):
            continue
        refs.extend(TensorRef(name, attr) for attr in attrs if getattr(module, attr, None) is not None)
    if wanted is not None:
        missing = wanted - {r.module for r in refs}
        if missing:
            raise ValueError(f"modules {sorted(missing)} hold no {group!r} tensors; valid: {layers(model, group)}")
    return refs


def coverage(model: nn.Module) -> dict[str, list]:
    """Which modules holding tensors of their own the groups cover, and which they do not.

    ``covered``: module types with the groups that select them; ``uncovered``: every other
    module that owns parameters or buffers (a Linear classifier, an Embedding, a PReLU ...),
    as (name, type, scalars), so a report can say what an audit leaves out.
    """
    covered: dict[str, set[str]] = {}
    for group in GROUPS:
        for ref in select(model, group):
            covered.setdefault(type(model.get_submodule(ref.module)).__name__, set()).add(group)
    uncovered = []
    for name, module in model.named_modules():
        own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        if own and not isinstance(module, BN_TYPES + CONV_TYPES + NORM_TYPES):
            uncovered.append((name, type(module).__name__, sum(t.numel() for t in own)))
    return {"covered": sorted((t, sorted(g)) for t, g in covered.items()), "uncovered": uncovered}


def group_size(model: nn.Module, group: str) -> tuple[int, int]:
    """(number of tensors, number of scalars) that ``group`` holds in ``model``."""
    refs = select(model, group)
    return len(refs), sum(ref.resolve(model).numel() for ref in refs)


def forward_order(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the conv and normalisation modules in the order a forward pass calls them."""
    order: list[str] = []
    handles = [
        module.register_forward_pre_hook(lambda m, args, name=name: order.append(name))
        for name, module in model.named_modules()
        if isinstance(module, BN_TYPES + CONV_TYPES + NORM_TYPES)
    ]
    try:
        _traced_forward(model, example)
    finally:
        for handle in handles:
            handle.remove()
    return list(dict.fromkeys(order))


def conv_feeding_bn(model: nn.Module, example: torch.Tensor) -> dict[str, str]:
    """Map each conv whose output goes straight into a BN layer to that BN layer.

    Such a conv's bias is cancelled by the BN's mean subtraction in training mode: it gets
    no gradient, which is why O4 (conv biases are reusable) can hold by construction.
    """
    produced: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: dict[str, str] = {}

    def on_conv(name: str):
        def hook(module, args, output):
            produced[id(output)] = (name, output)  # keep the tensor alive so its id stays unique

        return hook

    def on_bn(name: str):
        def hook(module, args):
            hit = produced.get(id(args[0]))
            if hit is not None and hit[1] is args[0]:
                pairs[hit[0]] = name

        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, CONV_TYPES):
            handles.append(module.register_forward_hook(on_conv(name)))
        elif isinstance(module, BN_TYPES):
            handles.append(module.register_forward_pre_hook(on_bn(name)))
    try:
        _traced_forward(model, example)
    finally:
        for handle in handles:
            handle.remove()
    return pairs


def _traced_forward(model: nn.Module, example: torch.Tensor) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(example)
    finally:
        model.train(was_training)
