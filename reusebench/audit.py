"""Audits of your own network: which of its parameters can be reused from your pre-trained model.

An audit names, by import path (``package.module:function``), a model factory and a data
factory, a metric (built in or an import path) and, for networks the suite must train
itself, a loss; optionally checkpoints of the trained target and of the pre-trained donor.
The same keys come from a TOML file (``--audit FILE``) or from command-line options, which
win. See the README ("Audit your own network") and ``examples/``.

Contracts:
- model factory: ``factory() -> nn.Module``; it is called after ``torch.manual_seed(seed)``,
  so the initialisation (T0, and ``rerandom`` with another seed) is reproducible.
- data factory: ``factory() -> (train, val)``, each ``(inputs, targets)`` tensors or a map-style
  dataset of such pairs. Damage is measured on ``val``; AdaBN recalibrates on ``train``.
- metric: ``metric(outputs, targets) -> Tensor`` of one score per sample, higher is better.
- loss: ``loss(outputs, targets) -> scalar Tensor`` (only when a network must be trained).
  Left out, it is chosen from the model's output and the targets (``choose_loss``), and the
  choice is printed; either way it is checked at start-up: it must be finite and its
  gradient must not vanish on the model's outputs, or nothing would train.
- donor_init: the pre-trained model the suite trains (``donor_data``, no checkpoint) starts
  from its own initialisation (``"own"``, the default, as a real pre-trained model would) or
  from the target's (``"target"``, the same seed: the closest possible donor).
"""

from __future__ import annotations

import importlib
import math
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reusebench.groups import group_size
from reusebench.metrics import ae_per_image, seg_per_image
from reusebench.protocol import GROUPS, ConfigError, Selection, parse_names

# The donors of an audit: your pre-trained model, the initialisation (T0), a fresh draw, BN defaults.
AUDIT_DONORS = ("pretrained", "init", "rerandom", "defaults")


def _accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    correct = (outputs.argmax(1) == targets).float()  # (N,) for classification, (N, ...) for dense labels
    return correct.flatten(1).mean(1) if correct.dim() > 1 else correct


def _neg_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if outputs.shape != targets.shape:
        raise ConfigError(f"metric 'neg_mse' needs outputs and targets of one shape, got {tuple(outputs.shape)} and {tuple(targets.shape)}")
    return -((outputs - targets) ** 2).flatten(1).mean(1)


def _from_arrays(per_image: Callable, key: str) -> Callable:
    return lambda outputs, targets: torch.as_tensor(per_image(outputs, targets)[key])


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "accuracy": _accuracy,  # classification: logits (N, C), class indices (N,)
    "dice": _from_arrays(seg_per_image, "dice"),  # binary segmentation: one logit channel, masks
    "iou": _from_arrays(seg_per_image, "iou"),
    "ssim": _from_arrays(ae_per_image, "ssim"),  # reconstruction of images in [0, 1]
    "psnr": _from_arrays(ae_per_image, "psnr"),
    "neg_mse": _neg_mse,  # regression
}
def _bce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, with 0/1 targets of any dtype in the output's layout
    ((N, H, W) masks for an (N, 1, H, W) output; (N,) labels for an (N, 1) output)."""
    if targets.numel() != outputs.numel():
        raise ConfigError(f"loss 'bce' needs one output value per target, got outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)}")
    return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype).reshape(outputs.shape))


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": F.cross_entropy,
    "bce": _bce,
    "mse": F.mse_loss,
}


DONOR_INITS = ("own", "target")


@dataclass(frozen=True)
class AuditConfig:
    name: str
    model: str  # import path of the model factory
    data: str  # import path of the data factory: () -> (train, val)
    metric: str = "accuracy"  # a METRICS name or an import path
    loss: str = ""  # a LOSSES name or an import path; used only to train; empty: chosen from the output (choose_loss)
    target_checkpoint: str = ""  # a trained target's state_dict; empty: train it on `data`
    donor_checkpoint: str = ""  # your pre-trained model's state_dict; empty: train it on `donor_data`
    donor_data: str = ""  # import path of the donor's data factory; empty: no pretrained donor
    seed: int = 0
    donor_init: str = "own"  # the suite-trained pre-trained model's initialisation: its own, or the target's
    steps: int = 300
    lr: float = 0.003
    batch_size: int = 32
    eval_batch_size: int = 256
    loss_why: str = ""  # set at start-up: how the loss was chosen, for the report (not a key of the file)

    @property
    def has_donor(self) -> bool:
        return bool(self.donor_checkpoint or self.donor_data)


KEYS = tuple(f.name for f in fields(AuditConfig) if f.name != "loss_why")
_TYPES = {f.name: f.type for f in fields(AuditConfig) if f.name != "loss_why"}


def load_audit(path: str | None, options: dict[str, str | None], root: Path) -> AuditConfig | None:
    """The audit from a TOML file and/or options (options win); None when neither names a model.

    Relative checkpoint paths in the file are taken relative to the file.
    """
    raw: dict = {}
    where = "command line"
    if path:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the audit file {file} ({exc}); see --audit") from None
        where = f"audit file {file}"
        if str(file.resolve().parent) not in sys.path:  # factories may live beside the audit file
            sys.path.insert(0, str(file.resolve().parent))
        unknown = set(raw) - set(KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {', '.join(KEYS)}")
        for key in ("target_checkpoint", "donor_checkpoint"):
            if raw.get(key) and not Path(raw[key]).is_absolute():
                raw[key] = str((file.parent / raw[key]).resolve())
    raw.update({k: v for k, v in options.items() if v not in (None, "")})
    if not raw:
        return None
    missing = [k for k in ("model", "data") if not raw.get(k)]
    if missing:
        raise ConfigError(f"{where}: an audit needs {' and '.join(missing)} (import paths 'package.module:function')")
    raw.setdefault("name", raw["model"].rpartition(":")[2])
    for key, value in raw.items():
        kind = _TYPES[key]
        ok = isinstance(value, str) if kind == "str" else (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > (0 if key != "seed" else -1)
        )
        if kind == "int" and ok:
            ok = float(value).is_integer()
        if not ok:
            raise ConfigError(f"{where}: {key!r} must be {'a string' if kind == 'str' else 'a positive ' + kind}, got {value!r}")
    config = AuditConfig(**{k: (int(v) if _TYPES[k] == "int" else float(v) if _TYPES[k] == "float" else v) for k, v in raw.items()})
    for key in ("model", "data", "donor_data"):
        if getattr(config, key):
            resolve(getattr(config, key), key)
    metric_fn(config.metric)
    if config.donor_init not in DONOR_INITS:
        raise ConfigError(f"{where}: donor_init {config.donor_init!r}; valid choices: {', '.join(DONOR_INITS)}")
    for key in ("target_checkpoint", "donor_checkpoint"):
        if getattr(config, key) and not Path(getattr(config, key)).is_file():
            raise ConfigError(f"{where}: {key} {getattr(config, key)!r} is not a file")
    config = replace(config, name="".join(c if c.isalnum() or c in "-_" else "-" for c in config.name))
    if trains_something(config):
        config = settle_loss(config)
    return config


def trains_something(config: AuditConfig) -> bool:
    return not config.target_checkpoint or bool(config.donor_data and not config.donor_checkpoint)


def choose_loss(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[str | None, str]:
    """The loss for a model's ``outputs`` and the data's ``targets``, when the audit names none:
    (name, why), or (None, why not). Integer class targets with two or more output channels:
    cross_entropy (one-hot float targets too); targets of 0 and 1 with one output value per
    target: bce; real-valued targets of the output's shape: mse."""
    shape, tshape = tuple(outputs.shape), tuple(targets.shape)
    integer = not torch.is_floating_point(targets)
    binary = bool(((targets == 0) | (targets == 1)).all())
    per_sample = tshape[1:]  # the targets of one sample
    if integer and outputs.dim() >= 2 and outputs.shape[1] >= 2 and per_sample == shape[2:]:
        return "cross_entropy", f"output {shape} scores {shape[1]} classes per target {tshape}"
    one_value = outputs.dim() < 2 or outputs.shape[1] == 1
    if binary and one_value and per_sample in (shape[1:], shape[2:]):
        return "bce", f"one output value (a logit) per binary target: output {shape}, targets {tshape}"
    if not integer and binary and outputs.dim() == 2 and shape[1] >= 2 and per_sample == shape[1:] and bool((targets.sum(1) == 1).all()):
        return "cross_entropy", f"output {shape} scores {shape[1]} classes; targets {tshape} are one-hot"
    if not integer and per_sample == shape[1:]:
        return "mse", f"real-valued targets of the output's shape {shape}"
    return None, f"output {shape} and targets {tshape} ({targets.dtype}) fit none of cross_entropy, bce, mse"


def settle_loss(config: AuditConfig) -> AuditConfig:
    """The audit with its loss chosen (if left out) and checked on the model's outputs: finite,
    with a gradient that does not vanish (cross_entropy over one output channel is 0 for every
    input, and would train nothing). The choice looks at every training target's values and at
    the output of the first four samples."""
    (inputs, targets), _ = load_data(config.data, "data")
    model = build(config, config.seed).train()
    try:
        outputs = model(inputs[:4])
    except Exception:  # noqa: BLE001 - check_runs names the mismatch of model and data
        return config
    if not isinstance(outputs, torch.Tensor):
        return config  # check_runs names this error
    why = "set in the audit"
    name = config.loss
    if not name:
        name, why = choose_loss(outputs.detach(), targets)
        if name is None:
            raise ConfigError(f"no loss given, and none fits: {why}; set loss (cross_entropy, bce, mse or an import path)")
        why = f"chosen from the output: {why}"
    loss = loss_fn(name)
    probe = outputs.detach().clone().requires_grad_(True)
    try:
        value = loss(probe, targets[:4])
        (grad,) = torch.autograd.grad(value, probe)
    except Exception as exc:  # noqa: BLE001 - any failure is a mismatch of loss, outputs and targets
        raise ConfigError(f"loss {name!r} fails on the model's output {tuple(outputs.shape)} and targets "
                          f"{tuple(targets[:4].shape)}: {exc}") from None
    if not torch.isfinite(value) or not torch.isfinite(grad).all() or not grad.abs().sum() > 0:
        suggestion, reason = choose_loss(outputs.detach(), targets)
        raise ConfigError(
            f"loss {name!r} cannot train this model: on its output {tuple(outputs.shape)} it is {float(value.detach()) + 0.0:.4g} with a "
            f"{'non-finite' if not torch.isfinite(grad).all() else 'zero'} gradient for every input"
            + (" (cross_entropy over one output channel is always 0)" if name == "cross_entropy" and outputs.dim() >= 2 and outputs.shape[1] == 1 else "")
            + (f"; {suggestion!r} fits ({reason})" if suggestion and suggestion != name else "")
        )
    return replace(config, loss=name, loss_why=why)


def resolve(path: str, what: str) -> Callable:
    """The object an import path ``package.module:attribute`` names; a ConfigError that says why not."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} {path!r} is not an import path of the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {path!r}: cannot import {module_name!r} ({exc})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = ", ".join(n for n in dir(module) if not n.startswith("_"))
            raise ConfigError(f"{what} {path!r}: {module_name!r} has no {attr!r}; it has: {names}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{what} {path!r} is not callable")
    return obj


def _named_or_imported(kind: str, name: str, builtin: dict[str, Callable]) -> Callable:
    if name in builtin:
        return builtin[name]
    if ":" not in name:
        raise ConfigError(f"unknown {kind} {name!r}; valid choices: {', '.join(builtin)}, or an import path 'package.module:function'")
    return resolve(name, kind)


def metric_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return _named_or_imported("metric", name, METRICS)


def loss_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return _named_or_imported("loss", name, LOSSES)


def as_tensors(data, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` tensors from a pair of tensors or a map-style dataset of pairs."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        inputs, targets = data
    else:
        try:
            pairs = [data[i] for i in range(len(data))]
            inputs = torch.stack([torch.as_tensor(x) for x, _ in pairs])
            targets = torch.stack([torch.as_tensor(y) for _, y in pairs])
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"{what} must be (inputs, targets) tensors or a dataset of pairs ({exc})") from None
    if len(inputs) != len(targets) or len(inputs) < 2:
        raise ConfigError(f"{what}: {len(inputs)} inputs and {len(targets)} targets; need equally many, at least 2")
    return inputs, targets


def load_data(path: str, what: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    result = resolve(path, what)()
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise ConfigError(f"{what} {path!r} must return (train, val), got {type(result).__name__}")
    return as_tensors(result[0], f"{what} {path!r} train"), as_tensors(result[1], f"{what} {path!r} val")


def build(config: AuditConfig, seed: int) -> nn.Module:
    """A fresh network from the factory, initialised under ``seed``."""
    torch.manual_seed(seed)
    model = resolve(config.model, "model")()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {config.model!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_state(path: str, what: str) -> dict[str, torch.Tensor]:
    """A state_dict (or {"state_dict": ...}) saved with torch.save, loaded weights-only."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(f"{what} {path!r} cannot be loaded as weights ({exc})") from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"{what} {path!r} holds no state_dict")
    return state


def load_checkpoint(model: nn.Module, path: str, what: str) -> None:
    """Load a checkpoint into ``model``; every tensor must fit (it is the network measured)."""
    state = load_state(path, what)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{what} {path!r} does not fit the model: {exc}") from None


def per_sample(metric: Callable, outputs: torch.Tensor, targets: torch.Tensor, name: str) -> np.ndarray:
    scores = torch.as_tensor(metric(outputs, targets)).detach().double().cpu().reshape(-1)
    if scores.numel() != len(targets):
        raise ConfigError(f"metric {name!r} must return one score per sample ({len(targets)}), got {scores.numel()}")
    return scores.numpy()


def check_runs(config: AuditConfig, model: nn.Module) -> None:
    """Fail at start-up, not in every test: the data loads, the model runs on it, the metric scores it."""
    (train_x, train_y), _ = load_data(config.data, "data")
    try:
        with torch.no_grad():
            outputs = model.eval()(train_x[:2])
    except Exception as exc:  # noqa: BLE001 - any failure here is a mismatch of model and data
        raise ConfigError(f"model {config.model!r} cannot run on data {config.data!r} inputs of shape {tuple(train_x[:2].shape)}: {exc}") from None
    if not isinstance(outputs, torch.Tensor):
        raise ConfigError(f"model {config.model!r} must return a tensor, got {type(outputs).__name__}")
    try:
        per_sample(metric_fn(config.metric), outputs, train_y[:2], config.metric)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"metric {config.metric!r} fails on the model's outputs {tuple(outputs.shape)} and targets {tuple(train_y[:2].shape)}: {exc}") from None


def available_donors(config: AuditConfig) -> tuple[str, ...]:
    """The donors an audit has: the synthetic ones, and its pre-trained model when it names one."""
    return tuple(d for d in AUDIT_DONORS if d != "pretrained" or config.has_donor)


def selection(config: AuditConfig, *, donors: str = "", groups: str = "") -> Selection:
    """What an audit covers: its one network, the donors it has and the groups its modules hold,
    narrowed by ``--donor`` / ``--param-group`` (comma-separated; empty: all). Checks that it runs."""
    model = build(config, config.seed)
    check_runs(config, model)
    if not any(group_size(model, g)[0] for g in GROUPS):
        raise ConfigError(f"model {config.model!r} holds no conv or normalisation layer: nothing to audit")
    available = available_donors(config)
    return Selection(
        archs=(config.name,),
        tasks=("audit",),
        donors=parse_names(donors, "donor", available, "--donor"),
        # every group, those the network does not hold too: their tests are skipped with the
        # reason and the verdict has a "not applicable" row, rather than a silent absence
        groups=parse_names(groups, "group", GROUPS, "--param-group"),
        dataset=config.name,
    )
