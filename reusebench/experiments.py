"""The experiments beside replacement damage, as functions over a lab (``reusebench.lab``).

- ``finetune``: R1, a short fine-tune from an arm's start (the `other_task` network's lower
  layers with the top re-initialised, frozen or not; or the earlier variants) against the same
  budget from scratch, each at the learning rate it chooses on the validation split.
- ``donor_distance``: R2, per conv layer how close a donor's kernel is to the trained
  target's, against how close the target's own initialisation is.
- ``kernel_rmse_damage``: C1, per conv layer a scale-free kernel distance between donor and
  target against the damage of replacing that layer's kernel alone.
- ``bias_gradients``: M1, per conv the gradients of its bias and weight on a training batch,
  and how far training moved them.

Each result is memoised in the lab, so a record test and a claim test share one measurement.
"""

from __future__ import annotations

import statistics


from reusebench.analysis import (
    C1_DISTANCE,
    KERNEL_DISTANCES,
    choose_lr,
    conv_gradients,
    conv_kernel_rmse,
    curve_advantage,
    distance_ratios,
    kernel_distances,
    rmse,
    spearman,
)
from reusebench.groups import conv_feeding_bn
from reusebench.lab import Case, Lab
from reusebench.protocol import ABLATION_ARMS


def finetune(lab: Lab, arch: str, task: str, seed: int, arm: str, lr: float | None = None) -> dict:
    """R1: the fine-tune of ``task`` in ``arm`` (``FINETUNE_ARMS``) on a slice of the target's
    training data, at ``lr`` (None: the learning rate the arm chooses on the validation split;
    the ablation arms always run at the training lr), against scratch at the same lr, or
    chosen the same way."""
    if arm in ABLATION_ARMS:
        if lr not in (None, lab.profile.lr):
            raise ValueError(f"ablation arm {arm!r} runs at the training lr {lab.profile.lr}, not {lr}")
        lr = lab.profile.lr
    return lab.memo(("finetune", arch, task, seed, arm, lr), lambda: _finetune(lab, arch, task, seed, arm, lr))


def _finetune(lab: Lab, arch: str, task: str, seed: int, arm: str, lr: float | None) -> dict:
    networks = lab.networks
    target = lab.target_spec(arch, task, seed=seed)
    grid = networks.finetune_lrs(arm)
    runs = {x: networks.finetuned(target, arm, x) for x in (grid if lr is None else (lr,))}
    val_end = {x: run.meta["monitor_curve"][-1][1] for x, run in runs.items()}
    chosen = choose_lr(val_end) if lr is None else lr
    tuned = runs[chosen]
    full = lab.fixture(target)
    base = lab.reference_metrics(target)
    metric = networks.metric_name(task)
    tested = lab.networks.evaluate_per_image(tuned.model, task, target.dataset)[metric]
    m_test = float(tested.mean())
    gain = base["trained"][metric] - base["floor"][metric]  # the damage scale's floor (reusebench.metrics.damage)
    control = None
    if arm != "scratch":  # a fixed lr (the ablation arms: the training lr) against scratch at that lr
        control = finetune(lab, arch, task, seed, "scratch", lr)
    curve = tuned.meta["monitor_curve"]
    # context for R2 (the earlier design): how far the fine-tune moved the kernels from its
    # start, against how far full training moved them from the initialisation
    ideal = conv_kernel_rmse(full.model, full.init_state, full.model.state_dict())
    moved = conv_kernel_rmse(full.model, tuned.init_state, tuned.model.state_dict())
    rows = [{"layer": name, "start_to_finetuned": moved[name], "init_to_trained": ideal[name], "ratio": moved[name] / ideal[name]} for name in ideal]
    return {
        "arch": arch,
        "task": task,
        "seed": seed,
        "arm": arm,
        "start": tuned.spec.start,
        "frozen": tuned.spec.frozen,
        "transferred": tuned.meta.get("transferred"),
        "donor": None if arm == "scratch" else "other_task",
        "steps": lab.profile.finetune_steps,
        "n_slice": lab.profile.finetune_n,
        "metric": metric,
        "lr": chosen,
        "lr_grid": list(grid),
        "lr_chosen_on": "fixed" if lr is not None else "validation split, final value",
        "val_end_per_lr": {str(x): v for x, v in val_end.items()},
        "curve": curve,
        "m_test": m_test,
        "m_target": base["trained"][metric],
        "m_init": base["init"][metric],
        "m_floor": base["floor"][metric],
        "scratch_lr": None if control is None else control["lr"],
        "scratch_m_test": None if control is None else control["m_test"],
        "advantage": None if control is None else (m_test - control["m_test"]) / gain,
        "advantage_area": None if control is None else curve_advantage(curve, control["curve"]) / gain,
        # the test images one by one (the same for every seed), for R1's paired bootstrap over them
        "per_image": {"arm": [float(v) for v in tested], "scratch": None if control is None else control["per_image"]["arm"],
                      "target": [float(v) for v in base["per_image"][0][metric]], "floor": [float(v) for v in base["per_image_floor"][metric]]},
        "rmse_layers": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
    }


def donor_distance(lab: Lab, arch: str, task: str, seed: int, donor: str) -> dict:
    """R2: per conv layer, RMSE(donor kernel, trained target kernel) against RMSE(target's initial
    kernel, trained target kernel), and the median of their ratio over the layers."""
    return lab.memo(("donor_distance", arch, task, seed, donor), lambda: _donor_distance(lab, arch, task, seed, donor))


def _donor_distance(lab: Lab, arch: str, task: str, seed: int, donor: str) -> dict:
    target = lab.target_spec(arch, task, seed=seed)
    fx = lab.fixture(target)
    rows = distance_ratios(fx.model, lab.networks.donor_state(fx, donor), fx.init_state, fx.model.state_dict())
    return {"arch": arch, "task": task, "seed": seed, "donor": donor, "layers": rows,
            "median_ratio": statistics.median(r["ratio"] for r in rows), "n_layers": len(rows)}


def kernel_rmse_damage(lab: Lab, arch: str, task: str, seed: int, donor: str) -> dict:
    """C1: per conv layer, the distance between donor and target kernels (every kind in
    ``analysis.KERNEL_DISTANCES``; the claim uses ``C1_DISTANCE``) against the damage of
    replacing that layer's kernel alone (scope ``layer``), and their rank correlations."""
    target = lab.target_spec(arch, task, seed=seed)
    fx = lab.fixture(target)
    distances = kernel_distances(fx.model, lab.networks.donor_state(fx, donor), fx.model.state_dict(), fx.init_state)
    rows = [
        {"layer": name, **distances[name],
         "damage": lab.measure(Case(arch, task, "conv.weight", donor, target.dataset, "layer", name, seed=seed))["damage"]}
        for name in lab.group_layers(arch, "conv.weight")
    ]
    damages = [r["damage"] for r in rows]
    rho = {kind: spearman([r[kind] for r in rows], damages) for kind in KERNEL_DISTANCES}
    scale = {kind: spearman([r[kind] for r in rows], [r["init_scale"] for r in rows]) for kind in KERNEL_DISTANCES}
    return {"arch": arch, "task": task, "seed": seed, "donor": donor, "layers": rows, "distance": C1_DISTANCE,
            "rho": rho[C1_DISTANCE], "rho_by_distance": rho, "rho_with_init_scale": scale, "n_layers": len(rows)}


def bias_gradients(lab: Lab, arch: str, task: str, seed: int) -> dict:
    """M1: per conv, the gradient of its bias and weight on one training batch (training mode,
    at the initialisation and for the trained network), and how far training moved them."""
    return lab.memo(("bias_gradients", arch, task, seed), lambda: _bias_gradients(lab, arch, task, seed))


def _bias_gradients(lab: Lab, arch: str, task: str, seed: int) -> dict:
    networks = lab.networks
    target = lab.target_spec(arch, task, seed=seed)
    fx = lab.fixture(target)
    feeds = conv_feeding_bn(*lab.structure(arch))
    batch = networks.split(target.dataset, "train")
    images = batch.images[: lab.profile.batch_size].to(lab.device)
    masks = batch.targets(task)[: lab.profile.batch_size].to(lab.device)
    trained = {k: v.detach().cpu() for k, v in fx.model.state_dict().items()}
    loss = networks.loss(task)
    grads = {
        when: conv_gradients(net, lambda m: loss(m(images), images, masks))
        for when, net in (("init", networks.fresh(target)), ("trained", fx.model))
    }
    rows = [
        {
            "layer": name,
            "feeds_bn": name in feeds,
            "grad_abs_max": max(grads["init"][name]["bias"], grads["trained"][name]["bias"]),
            "weight_grad_abs_max": max(grads["init"][name]["weight"], grads["trained"][name]["weight"]),
            "drift": rmse(trained[f"{name}.bias"], fx.init_state[f"{name}.bias"]),
            "weight_drift": rmse(trained[f"{name}.weight"], fx.init_state[f"{name}.weight"]),
        }
        for name in lab.group_layers(arch, "conv.bias")
    ]
    return {"arch": arch, "task": task, "seed": seed, "layers": rows}
