"""The protocol's names: one source of truth for architectures, tasks, donors, groups, scopes.

See ``docs/protocol.md`` for what each name means.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

ARCHITECTURES = ("unet", "pspnet")
TASKS = ("seg", "ae")
DATASETS = ("shapes", "nuclei")

PAPER_DONORS = (
    "other_task",
    "other_task_indep",
    "other_seed",
    "other_data",
    "init",
    "rerandom",
    "defaults",
)
# An audit of the user's own network (--audit) adds the user's pre-trained model as a donor.
DONORS = (*PAPER_DONORS, "pretrained")

BN_GROUPS = (
    "bn.running_mean",
    "bn.running_var",
    "bn.running",
    "bn.weight",
    "bn.bias",
    "bn.affine",
)
CONV_GROUPS = ("conv.weight", "conv.bias")
PAPER_GROUPS = BN_GROUPS + CONV_GROUPS
# Normalisation layers without running statistics (GroupNorm, LayerNorm, affine InstanceNorm):
# affine-only groups, for audits of networks that have them.
NORM_GROUPS = ("norm.weight", "norm.bias", "norm.affine")
GROUPS = PAPER_GROUPS + NORM_GROUPS

SCOPES = ("all", "layer", "prefix")  # prefix: layers 1..k in forward order, cumulatively
RECALIBRATIONS = ("none", "adabn")

# R1's starts by group: which groups of the `other_task` donor a fine-tune starts from
# ("scratch": none, the control); the ablation arms and `kept` (= "all"). "all" is the whole
# state, BN running statistics included; the others leave the running statistics at their
# initial values (0 and 1).
REUSE_VARIANTS: dict[str, tuple[str, ...]] = {
    "scratch": (),
    "all": PAPER_GROUPS,
    "conv": CONV_GROUPS,
    "conv+bn.affine": (*CONV_GROUPS, "bn.affine"),
}
# R1 as transfer is practised (Yosinski et al. 2014): the reused start takes the `other_task`
# network's lower layers and the target's own initialisation for its top k convs, in forward
# order, and for every module the forward pass calls from the first of them on
# (``reusebench.fixtures.store.transfer_split``, part of the recipe that keys a trained network).
TRANSFER_STARTS = ("head", "half")  # k = 1 (the task head); k = floor(L/2) of the L convs
FINETUNE_STARTS = (*REUSE_VARIANTS, *TRANSFER_STARTS)
# R1's arms: name -> (start, frozen). A frozen arm trains only the re-initialised top (its
# transferred layers keep their weights and BN statistics: Yosinski's AnB); the others fine-tune
# everything (AnB+). "kept" is the whole donor, head included ("all"), with the learning rate
# chosen like the others. The ablation arms are the earlier design, at the training lr.
FINETUNE_ARMS: dict[str, tuple[str, bool]] = {
    "scratch": ("scratch", False),
    "head": ("head", False),
    "head-frozen": ("head", True),
    "half": ("half", False),
    "half-frozen": ("half", True),
    "kept": ("all", False),
    "all": ("all", False),
    "conv": ("conv", False),
    "conv+bn.affine": ("conv+bn.affine", False),
}
ABLATION_ARMS = ("all", "conv", "conv+bn.affine")  # at the profile's training lr, no selection


# Metric used for damage and assertions, per task; every metric is recorded anyway.
# Both are bounded above by 1, so damage reads on the same scale for both tasks.
PRIMARY_METRIC = {"seg": "dice", "ae": "ssim"}
METRICS = {"seg": ("dice", "iou"), "ae": ("ssim", "psnr")}


class ConfigError(ValueError):
    """A configuration value that is not one of the valid choices."""


def check_choice(kind: str, value: object, choices: Iterable[str], where: str = "") -> str:
    """Return ``value`` if it is one of ``choices``; else raise a ConfigError naming all three."""
    choices = tuple(choices)
    if value not in choices:
        origin = f" (from {where})" if where else ""
        raise ConfigError(
            f"unknown {kind} {value!r}{origin}; valid choices: {', '.join(choices)}"
        )
    return value  # type: ignore[return-value]


def other_task(task: str) -> str:
    """The task a network of ``task`` swaps parameters with."""
    check_choice("task", task, TASKS)
    return "ae" if task == "seg" else "seg"


def other_dataset(dataset: str) -> str:
    check_choice("dataset", dataset, DATASETS)
    return "nuclei" if dataset == "shapes" else "shapes"


# The independent donors (`other_seed`, `other_task_indep`) come from a pool of networks disjoint
# from the targets: target seed s takes the donor trained with seed DONOR_SEED_OFFSET + s. No
# network is then both a target and a donor of a cell, so a cell's per-seed values are
# independent draws (a cyclic "next target seed" put every network in two of them).
DONOR_SEED_OFFSET = 100


def donor_seed(seed: int) -> int:
    """The seed of the independent donor of a target of ``seed`` (the donor pool)."""
    return DONOR_SEED_OFFSET + seed


def derived_seed(seed: int, purpose: str) -> int:
    """A seed for ``purpose`` derived from a target's ``seed`` (e.g. the ``rerandom`` donor's init)."""
    return zlib.crc32(f"{purpose}/{seed}".encode()) & 0x7FFFFFFF


def parse_names(text: str, kind: str, choices: tuple[str, ...], option: str) -> tuple[str, ...]:
    """Comma-separated names from ``option`` (empty: all ``choices``), each checked against ``choices``."""
    if not text:
        return choices
    picked = [n.strip() for n in text.split(",") if n.strip()]
    if not picked:
        raise ConfigError(f"{option} {text!r} names no {kind}; valid choices: {', '.join(choices)} (leave it out for all)")
    return tuple(check_choice(kind, n, choices, option) for n in picked)


def donor_applies(donor: str, group: str) -> bool:
    """Whether ``donor`` makes sense for ``group``: the BN defaults donor serves BN groups only."""
    check_choice("donor", donor, DONORS)
    check_choice("group", group, GROUPS)
    return donor != "defaults" or group in BN_GROUPS


@dataclass(frozen=True)
class Selection:
    """Which architectures, tasks, donors and groups a run covers, and the target dataset."""

    archs: tuple[str, ...] = ARCHITECTURES
    tasks: tuple[str, ...] = TASKS
    donors: tuple[str, ...] = PAPER_DONORS
    groups: tuple[str, ...] = PAPER_GROUPS
    dataset: str = "shapes"

    @classmethod
    def parse(cls, *, archs: str = "", tasks: str = "", donors: str = "", groups: str = "", dataset: str = "shapes") -> "Selection":
        """Comma-separated names (empty: all), each checked against the protocol's choices."""
        return cls(
            parse_names(archs, "architecture", ARCHITECTURES, "--arch"),
            parse_names(tasks, "task", TASKS, "--task"),
            parse_names(donors, "donor", PAPER_DONORS, "--donor"),
            parse_names(groups, "parameter group", PAPER_GROUPS, "--param-group"),
            check_choice("dataset", dataset, DATASETS, "--dataset"),
        )
