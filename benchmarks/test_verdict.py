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

    def damages(**where) -> dict:
        none, adabn = (lab.measure(Case(arch, task, donor="pretrained", dataset=lab.dataset, recalibration=r, **where)) for r in ("none", "adabn"))
        assert none["restored_exactly"] and adabn["restored_exactly"]
        verdict = audit_verdict(tuple(none["damage_ci95"]), tuple(adabn["damage_ci95"]), where["group"].startswith("bn.running"))
        return {"damage": none["damage"], "damage_ci95": none["damage_ci95"], "damage_adabn": adabn["damage"],
                "damage_adabn_ci95": adabn["damage_ci95"], "verdict": verdict}

    inventory = lab.inventory(arch)
    groups, rows = [], []
    for group in sel.groups:
        cover = inventory["group_coverage"][group]  # counted over the modules the forward pass calls
        held = {"layers": cover["held"], "of": cover["of"], "kind": cover["kind"], "never_called": len(cover["never_called"])}
        if not cover["held"]:  # said, not left out
            groups.append({"group": group, **held, "damage": None, "damage_ci95": None, "damage_adabn": None,
                           "damage_adabn_ci95": None, "verdict": "not applicable"})
            continue
        groups.append({"group": group, **held, **damages(group=group)})
        for layer in lab.group_layers(arch, group):
            rows.append({"group": group, "layer": layer, **damages(group=group, scope="layer", layer=layer)})
    base = lab.reference_metrics(lab.target_spec(arch, task))
    order = inventory["forward_order"]
    metric = lab.networks.metric_name(task)
    record("verdict", {
        "name": arch, "metric": metric, "m_target": base["trained"][metric], "m_init": base["init"][metric],
        "reusable_max": REUSABLE_MAX, "groups": groups, "layers": sorted(rows, key=lambda r: order.index(r["layer"])),
    })
    assert any(g["damage"] is not None for g in groups), "some group applies"
    assert all(math.isfinite(g["damage"]) for g in groups if g["damage"] is not None), "every applicable group measured"
