"""Swap a group's tensors in place, measure, and restore them exactly; no deep copies of the network."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from reusebench.groups import BN_TYPES, TensorRef


class ShapeMismatchError(ValueError):
    """A donor tensor whose shape differs from the target tensor it should replace."""


class MissingDonorTensorError(KeyError):
    """The donor has no tensor for a parameter the group selects."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


@contextmanager
def preserved(model: nn.Module, refs: Sequence[TensorRef]) -> Iterator[None]:
    """Restore the tensors named by ``refs`` to their current values on exit, bit for bit."""
    tensors = [ref.resolve(model) for ref in refs]
    saved = [t.detach().clone() for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for tensor, value in zip(tensors, saved):
                tensor.copy_(value)


def check_donor(model: nn.Module, donor: Mapping[str, torch.Tensor], refs: Sequence[TensorRef]) -> None:
    """Raise a named error for the first selected tensor that the donor lacks or shapes differently."""
    for ref in refs:
        if ref.name not in donor:
            raise MissingDonorTensorError(f"donor has no tensor {ref.name!r} (needed for this group)")
        want, got = tuple(ref.resolve(model).shape), tuple(donor[ref.name].shape)
        if want != got:
            raise ShapeMismatchError(f"donor tensor {ref.name!r} has shape {got}, the target's has shape {want}")


@contextmanager
def replaced(model: nn.Module, donor: Mapping[str, torch.Tensor], refs: Sequence[TensorRef]) -> Iterator[None]:
    """Within the block, the tensors ``refs`` hold the donor's values; afterwards their own again.

    The donor is checked completely before anything is touched, so a bad donor leaves the
    model as it was. Only the replaced tensors are copied (to restore them), never the network.
    """
    check_donor(model, donor, refs)
    with preserved(model, refs), torch.no_grad():
        for ref in refs:
            ref.resolve(model).copy_(donor[ref.name])
        yield


def bn_defaults(model: nn.Module) -> dict[str, torch.Tensor]:
    """The ``defaults`` donor: running_mean 0, running_var 1, weight 1, bias 0 for every BN layer."""
    values = {"running_mean": 0.0, "running_var": 1.0, "weight": 1.0, "bias": 0.0}
    donor = {}
    for name, module in model.named_modules():
        if isinstance(module, BN_TYPES):
            for attr, value in values.items():
                tensor = getattr(module, attr, None)
                if tensor is not None:
                    donor[TensorRef(name, attr).name] = torch.full_like(tensor.detach(), value)
    return donor


def state_digest(model: nn.Module) -> str:
    """A digest of every parameter and buffer, bit-exact: equal digests mean an identical state."""
    h = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
