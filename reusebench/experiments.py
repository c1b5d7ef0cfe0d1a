"""The experiments beside replacement damage, as functions over a lab (``reusebench.lab``).

- ``finetune``: R1/R2, a short fine-tune from a reuse variant of the `other_task` network
  against the same budget from scratch, and how far it moves the kernels.
- ``kernel_rmse_damage``: C1, per conv layer the kernel RMSE between donor and target
  against the damage of replacing that layer's kernel alone.
- ``bias_gradients``: M1, per conv the gradients of its bias and weight on a training batch,
  and how far training moved them.

Each result is memoised in the lab, so a record test and a claim test share one measurement.
"""

from __future__ import annotations

import statistics


from reusebench.analysis import conv_gradients, conv_kernel_rmse, rmse, spearman
from reusebench.groups import conv_feeding_bn
from reusebench.lab import Case, Lab


def finetune(lab: Lab, arch: str, task: str, seed: int, variant: str) -> dict:
    """R1/R2: the fine-tune of ``task`` from ``variant`` of the `other_task` network, on a slice
    of the target's training data, against the fully trained target."""
    return lab.memo(("finetune", arch, task, seed, variant), lambda: _finetune(lab, arch, task, seed, variant))


def _finetune(lab: Lab, arch: str, task: str, seed: int, variant: str) -> dict:
    networks = lab.networks
    target = lab.target_spec(arch, task, seed=seed)
    tuned = networks.finetuned(target, variant)
    full = lab.fixture(target)
    base = lab.reference_metrics(target)
    metric = networks.metric_name(task)
    m_test = lab.evaluate(tuned.model, task, target.dataset)[metric]
    scratch = None if variant == "scratch" else finetune(lab, arch, task, seed, "scratch")
    gain = base["trained"][metric] - base["floor"][metric]  # the damage scale's floor (reusebench.metrics.damage)
    trained_state = full.model.state_dict()
    ideal = conv_kernel_rmse(full.model, full.init_state, trained_state)  # how far training moves from init
    moved = conv_kernel_rmse(full.model, tuned.init_state, tuned.model.state_dict())  # how far the fine-tune moved
    rows = []
    if variant != "scratch":
        to_target = conv_kernel_rmse(full.model, networks.donor_state(full, "other_task"), trained_state)
        rows = [
            {"layer": name, "donor_to_finetuned": moved[name], "init_to_trained": ideal[name],
             "ratio": moved[name] / ideal[name], "donor_to_target_ratio": to_target[name] / ideal[name]}
            for name in ideal
        ]
    return {
        "arch": arch,
        "task": task,
        "seed": seed,
        "variant": variant,
        "donor": None if variant == "scratch" else "other_task",
        "steps": lab.profile.finetune_steps,
        "n_slice": lab.profile.finetune_n,
        "metric": metric,
        "curve": tuned.meta["monitor_curve"],
        "m_test": m_test,
        "m_target": base["trained"][metric],
        "m_init": base["init"][metric],
        "advantage": None if scratch is None else (m_test - scratch["m_test"]) / gain,
        "rmse_layers": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows) if rows else None,
        "control_median_ratio": statistics.median(moved[n] / ideal[n] for n in ideal) if scratch is None else scratch["control_median_ratio"],
        "donor_to_target_median_ratio": statistics.median(r["donor_to_target_ratio"] for r in rows) if rows else None,
    }


def kernel_rmse_damage(lab: Lab, arch: str, task: str, seed: int, donor: str) -> dict:
    """C1: per conv layer, the kernel RMSE between donor and target against the damage of
    replacing that layer's kernel alone (scope ``layer``), and their rank correlation."""
    target = lab.target_spec(arch, task, seed=seed)
    fx = lab.fixture(target)
    distance = conv_kernel_rmse(fx.model, lab.networks.donor_state(fx, donor), fx.model.state_dict())
    rows = [
        {"layer": name, "rmse": distance[name],
         "damage": lab.measure(Case(arch, task, "conv.weight", donor, target.dataset, "layer", name, seed=seed))["damage"]}
        for name in lab.group_layers(arch, "conv.weight")
    ]
    rho = spearman([r["rmse"] for r in rows], [r["damage"] for r in rows])
    return {"arch": arch, "task": task, "seed": seed, "donor": donor, "layers": rows, "rho": rho, "n_layers": len(rows)}


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
