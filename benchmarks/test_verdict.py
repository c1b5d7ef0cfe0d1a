"""The verdict of an audit of your own network (``--audit FILE`` or ``--model ... --data ...``).

For every parameter group, and for every layer of it, the pre-trained model's values replace
the target's, with and without AdaBN; ``reusebench.verdict`` turns the damages into reuse /
reuse + AdaBN / retrain, and the report opens with the result.
"""

import math

import pytest

from reusebench.lab import Case
from reusebench.verdict import REUSABLE_MAX, audit_verdict

pytestmark = pytest.mark.audit_only


def test_audit_verdict(lab, record, suite):
    sel = suite.selection
    if "pretrained" not in sel.donors:
        pytest.skip("the audit names no pre-trained model (donor_checkpoint or donor_data): nothing to reuse from")
    arch, task = sel.archs[0], sel.tasks[0]

    def damages(**where) -> tuple[float, float]:
        none, adabn = (lab.measure(Case(arch, task, donor="pretrained", dataset=lab.dataset, recalibration=r, **where)) for r in ("none", "adabn"))
        assert none["restored_exactly"] and adabn["restored_exactly"]
        return none["damage"], adabn["damage"]

    groups, rows = [], []
    for group in sel.groups:
        d, a = damages(group=group)
        groups.append({"group": group, "layers": len(lab.group_layers(arch, group)), "damage": d, "damage_adabn": a, "verdict": audit_verdict(d, a, group.startswith("bn.running"))})
        for layer in lab.group_layers(arch, group):
            d, a = damages(group=group, scope="layer", layer=layer)
            rows.append({"group": group, "layer": layer, "damage": d, "damage_adabn": a, "verdict": audit_verdict(d, a, group.startswith("bn.running"))})
    base = lab.reference_metrics(lab.target_spec(arch, task))
    order = lab.inventory(arch)["forward_order"]
    metric = lab.networks.metric_name(task)
    record("verdict", {
        "name": arch, "metric": metric, "m_target": base["trained"][metric], "m_init": base["init"][metric],
        "reusable_max": REUSABLE_MAX, "groups": groups, "layers": sorted(rows, key=lambda r: order.index(r["layer"])),
    })
    assert groups and all(math.isfinite(g["damage"]) for g in groups), "every group measured"
