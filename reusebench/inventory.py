"""What a network holds, counted over the modules its forward pass calls.

A network may keep modules it never runs (a library's encoder stages beyond the depth chosen,
an unused branch). Replacing their tensors changes nothing, so they would make a group look
larger and harmless; the inventory lists them as never called and leaves them out of every
count: the groups' tensors and scalars, "N of M" modules holding a group, the convs that feed
a BN layer and the modules no group covers.
"""

from __future__ import annotations

import torch
from torch import nn

from reusebench.groups import BN_TYPES, CONV_TYPES, NORM_TYPES, _traced_forward, conv_feeding_bn, coverage, forward_order, layers, select
from reusebench.protocol import GROUPS

# the module kind each group's tensors live in, and how the report names it
KINDS = {"bn.": (BN_TYPES, "BN layers"), "conv.": (CONV_TYPES, "convs"), "norm.": (NORM_TYPES, "norm layers")}


def kind_of(group: str) -> tuple[tuple[type[nn.Module], ...], str]:
    return next(kind for prefix, kind in KINDS.items() if group.startswith(prefix))


def called_modules(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Names of the modules a forward pass on ``example`` calls (evaluation mode, no gradients)."""
    called: set[str] = set()
    handles = [module.register_forward_pre_hook(lambda m, args, name=name: called.add(name)) for name, module in model.named_modules()]
    try:
        _traced_forward(model, example)  # the same evaluation-mode pass forward_order traces
    finally:
        for handle in handles:
            handle.remove()
    return called


def _own_tensors(module: nn.Module) -> int:
    return sum(t.numel() for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)])


def group_coverage(model: nn.Module, group: str, called: set[str]) -> dict:
    """How many of the network's called modules of the group's kind hold the group's tensors
    (``held`` of ``of``), and which holders are never called."""
    types, kind = kind_of(group)
    holders = layers(model, group)
    of = [name for name, module in model.named_modules() if isinstance(module, types) and name in called]
    return {"held": sum(1 for name in holders if name in called), "of": len(of), "kind": kind,
            "never_called": [name for name in holders if name not in called]}


def network_inventory(arch: str, model: nn.Module, example: torch.Tensor) -> dict:
    """Group sizes, "N of M" per group, the convs that feed BN layers, the modules no group covers,
    and the modules the forward pass never calls, for the report (counts over called modules)."""
    called = called_modules(model, example)
    sizes = {}
    for group in GROUPS:
        refs = [ref for ref in select(model, group) if ref.module in called]
        if refs:
            sizes[group] = {"tensors": len(refs), "scalars": sum(ref.resolve(model).numel() for ref in refs)}
    cover = coverage(model)
    cover["uncovered"] = [row for row in cover["uncovered"] if row[0] in called]
    never = [(name, type(module).__name__, _own_tensors(module)) for name, module in model.named_modules()
             if name not in called and _own_tensors(module)]
    return {
        "arch": arch,
        "groups": sizes,
        "group_coverage": {group: group_coverage(model, group, called) for group in GROUPS},
        "coverage": cover,
        "never_called": never,
        "conv_layers": [name for name in layers(model, "conv.weight") if name in called],
        "bn_layers": [name for name in layers(model, "bn.weight") if name in called],
        "forward_order": forward_order(model, example),
        "conv_feeding_bn": conv_feeding_bn(model, example),
    }
