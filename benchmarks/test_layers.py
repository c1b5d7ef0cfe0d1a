"""Layer maps and the C1 criterion: where in the network a replacement hurts.

Layer maps: each group replaced one layer at a time (scope ``layer``) and cumulatively over
layers 1..k in forward order (scope ``prefix``), from the re-initialisation and
re-randomisation donors (Zhang, Bengio, Singer 2019), without and with AdaBN recalibration;
the report classifies layers and draws heatmaps side by side. C1: per conv layer, a
scale-free distance between donor and target kernels against the damage of replacing that
kernel alone, with the design's power beside each verdict.
"""

import math

import numpy as np
import pytest

from reusebench import stats
from reusebench.analysis import C1_DISTANCE
from reusebench.experiments import kernel_rmse_damage
from reusebench.lab import Case, EmptyGroupError


def test_layer_map(layer_map, lab, record):
    arch, task, group, donor, scope, recal = (layer_map.arch, layer_map.task, layer_map.group, layer_map.donor, layer_map.scope,
                                              layer_map.recalibration)
    names = lab.group_layers(arch, group)
    if not names:
        pytest.skip(f"not applicable: {arch} holds no {group!r} tensors in the modules its forward pass calls")
    results = []
    for name in names:
        try:
            result = lab.measure(Case(arch, task, group, donor, lab.dataset, scope, name, recal))
        except EmptyGroupError as exc:
            pytest.skip(str(exc))
        record("case", result)
        results.append(result)
        assert result["restored_exactly"], f"{name}: the network differs after restoring it"
    assert [r["position"] for r in results] == list(range(1, len(names) + 1))
    if scope == "prefix":  # layers 1..n are the whole group: the same replacement, the same damage
        whole = lab.measure(Case(arch, task, group, donor, lab.dataset, recalibration=recal))
        assert results[-1]["damage"] == whole["damage"] or not math.isfinite(whole["damage"])


@pytest.mark.claims("C1")
def test_c1_kernel_distance_predicts_layer_damage(claim_case, lab, record, judge):
    c = claim_case
    per_seed, resampled = {}, []
    for seed in lab.seeds:
        result = kernel_rmse_damage(lab, c.arch, c.task, seed, c.case)
        record("rmse_damage", result)
        raw = result["rho_by_distance"]["rmse"]
        per_seed[seed] = (result["rho"], f"{result['n_layers']} conv layers; rho on the raw RMSE {raw:.3f}")
        parts = [lab.image_parts(Case(c.arch, c.task, "conv.weight", c.case, lab.dataset, "layer", row["layer"], seed=seed))
                 for row in result["layers"]]
        resampled.append(([row[C1_DISTANCE] for row in result["layers"]], parts))
    n_layers, n_images = result["n_layers"], len(resampled[0][1][0][0])
    # one resample of the test images and of the layers, shared by every seed (they share both)
    idx = stats.resample_indices(n_images)
    layer_idx = stats.resample_indices(n_layers, seed=1)
    image_values = np.array([stats.rank_correlation_resamples(d, parts, idx, layer_idx) for d, parts in resampled])
    # a resample that draws one layer every time (or ties every damage) has no rho: `judge` drops it
    level = stats.cell_level(c.family_size)
    o = c.observation
    strong = stats.rank_claim_power(n_layers, len(per_seed), 0.8, o.threshold, level=level, op=o.op)
    weak = stats.rank_claim_power(n_layers, len(per_seed), 0.2, o.threshold, level=level, op=o.op)
    note = (f"distance {C1_DISTANCE}; power with {n_layers} layers x {len(per_seed)} seeds (indicative, seed noise only): holds "
            f"{strong[stats.HOLDS]:.2f} if the true rho is 0.8, does not hold {weak[stats.FAILS]:.2f} if it is 0.2")
    judge(c, per_seed, image_values, note=note, n_images=min(n_images, n_layers),
          noise="seeds, test images and layers (paired bootstrap)")
