import json
import math
import re

import matplotlib.image
import pytest

from reusebench.claims import Observation
from PIL import Image

from reusebench import report as report_module
from reusebench.files import atomic_write_text
from reusebench.profiles import get_profile
from reusebench.protocol import BN_GROUPS, CONV_GROUPS
from reusebench.report import Figures, RunCollector, layer_class, render

ENV = {"torch": "x", "device": "cpu", "device_name": "cpu", "workers": 1}
CONVS, BNS = ["enc.0", "enc.3", "out"], ["enc.1", "enc.4"]
FORWARD = ["enc.0", "enc.1", "enc.3", "enc.4", "out"]


def collector() -> RunCollector:
    return RunCollector(get_profile("smoke"), ENV)  # seeds [0, 1]


def case(group, donor, dmg, *, seed=0, scope="all", layer=None, position=None, recalibration="none", task="seg"):
    return {
        "kind": "case", "test": f"t[{task}-{group}-{donor}-{scope}-{layer}-{recalibration}-{seed}]", "arch": "unet",
        "task": task, "dataset": "shapes", "group": group, "donor": donor, "scope": scope, "layer": layer,
        "position": position, "n_layers": 3, "recalibration": recalibration, "seed": seed, "metric": "dice",
        "m_target": 0.6, "m_init": 0.0, "m_replaced": 0.6 - 0.6 * dmg, "delta": -0.6 * dmg, "damage": dmg,
        "damage_ci95": [dmg - 0.01, dmg + 0.01], "n_tensors": 1, "n_scalars": 8, "seconds": 0.1,
        "restored_exactly": True, "device": "cpu",
    }


def claim(obs, case_name, values, *, op="<=", threshold=0.5, expected="holds", task="seg", tier="evidence"):
    """A claim record as the judge writes it (the real rule: mean and interval over the seeds)."""
    verdict = Observation(obs, f"statement of {obs}", {}, op, threshold, (case_name,), "w").judge({s: (v, "e") for s, v in enumerate(values)})
    return {"kind": "claim", "test": f"c[{obs}-{task}-{case_name}]", "arch": "unet", "task": task, "case": case_name,
            "expected": expected, "tier": tier, **verdict.record()}


def finetune(arm, seed, m_test, advantage):
    reused = arm != "scratch"
    return {
        "kind": "finetune", "test": f"f[{arm}-{seed}]", "arch": "unet", "task": "seg", "seed": seed,
        "arm": arm, "donor": "other_task" if reused else None, "steps": 40, "n_slice": 32, "metric": "dice",
        "lr": 0.003 if arm in ("conv", "conv+bn.affine") else 0.001 * (1 + seed), "lr_grid": [0.001, 0.002, 0.003],
        "curve": [[0, 0.1 + 0.1 * reused], [20, 0.3 + 0.1 * reused], [40, 0.4 + 0.1 * reused + 0.01 * seed]],
        "m_test": m_test, "m_target": 0.6, "m_init": 0.05, "m_floor": 0.1, "advantage": advantage,
        "advantage_area": None if advantage is None else advantage / 2,
        "rmse_layers": [{"layer": c, "start_to_finetuned": 0.01, "init_to_trained": 0.05, "ratio": 0.2 if reused else 0.7} for c in CONVS],
        "median_ratio": 0.2 if reused else 0.7,
    }


def donor_distance(donor, seed, ratio):
    return {"kind": "donor_distance", "test": f"d[{donor}-{seed}]", "arch": "unet", "task": "seg", "seed": seed, "donor": donor,
            "median_ratio": ratio, "n_layers": 3,
            "layers": [{"layer": c, "donor_to_target": 0.05 * ratio, "init_to_target": 0.05, "ratio": ratio} for c in CONVS]}


def layer_cases():
    out = []
    for donor, base in (("init", 0.03), ("rerandom", 0.3)):
        for scope in ("layer", "prefix"):
            for seed in (0, 1):
                for groups, layers in ((CONV_GROUPS, CONVS), (BN_GROUPS, BNS)):
                    for group in groups:
                        for pos, layer in enumerate(layers, 1):
                            out.append(case(group, donor, base * pos + 0.01 * seed, seed=seed, scope=scope, layer=layer, position=pos))
    for donor in ("init", "rerandom"):  # conv.bias after AdaBN: only the bias feeding no BN ("out") keeps its damage
        for pos, layer in enumerate(CONVS, 1):
            out.append(case("conv.bias", donor, 0.4 if layer == "out" else 0.01, seed=0, scope="layer", layer=layer, position=pos,
                            recalibration="adabn"))
    out[0]["damage"] = math.nan  # init, conv.weight, enc.0, layer scope, seed 0
    out[5]["damage"] = 1.7  # above the colour scale
    return out


def full_run() -> RunCollector:
    """Synthetic records of every kind."""
    c = collector()
    records = [
        *(case(g, d, dmg, seed=s) for g, d, dmg in (("conv.weight", "init", 0.9), ("bn.weight", "other_task", 0.4))
          for s, dmg in ((0, dmg), (1, dmg + 0.1))),
        *(case("conv.bias", d, v, seed=s, recalibration=rc) for d in ("other_task", "other_task_indep")
          for rc, v in (("none", 0.3), ("adabn", 0.02)) for s in (0, 1)),
        case("bn.running", "other_task", 0.8, recalibration="adabn"),
        case("bn.running", "other_task", 0.7),
        *layer_cases(),
        claim("O3", "init", [0.9, 1.0], op=">="),
        claim("O4", "other_task_indep", [0.3, 0.31], threshold=0.05, expected="fails"),
        claim("R1", "head", [0.2, 0.25], op=">=", threshold=0.1),
        claim("R1", "conv", [0.2, 0.25], op=">=", threshold=0.1, tier="ablation"),
        claim("R2", "other_task", [0.2, 0.7], expected="holds"),  # regression on seed 1
        claim("C1", "init", [0.6, math.nan], op=">=", threshold=0.3),
        claim("M1", "gradient", [1e-9, 2e-9], threshold=1e-6, tier="machinery"),
        claim("O3", "rerandom", [0.9, 0.91], op=">=", expected="fails"),  # holds: a flip
        claim("A1", "other_task_indep", [0.02, 0.03], threshold=0.1),
        *(finetune(v, s, m, a) for s in (0, 1) for v, m, a in
          (("scratch", 0.3, None), ("head", 0.5, 0.36), ("conv", 0.45, 0.27 + 0.01 * s), ("conv+bn.affine", math.nan, math.nan))),
        *(donor_distance(d, s, r + 0.1 * s) for s in (0, 1) for d, r in (("other_task", 0.9), ("other_seed", 1.3))),
        *({"kind": "rmse_damage", "test": f"r[{d}-{s}]", "arch": "unet", "task": "seg", "seed": s, "donor": d, "n_layers": 3,
           "distance": "rmse_init_scale", "rho": rho, "rho_by_distance": {"rmse": -0.5, "rmse_init_scale": rho},
           "rho_with_init_scale": {"rmse": 0.95, "rmse_init_scale": 0.1},
           "layers": [{"layer": l, "rmse": 0.01 * (i + 1), "rmse_init_scale": 0.5 * (i + 1), "init_scale": 0.02, "damage": 0.2 * i}
                      for i, l in enumerate(CONVS)]}
          for s in (0, 1) for d, rho in (("other_task", 0.5 + 0.1 * s), ("other_seed", math.nan))),
        *({"kind": "bias_gradient", "test": f"g[{s}]", "arch": "unet", "task": "seg", "seed": s,
           "layers": [{"layer": l, "feeds_bn": l != "out", "grad_abs_max": 1e-9 if l != "out" else 3e-3,
                       "weight_grad_abs_max": 2e-2, "drift": 0.0 if l != "out" else 0.04, "weight_drift": 0.05}
                      for l in CONVS]} for s in (0, 1)),
        {"kind": "inventory", "test": "inv", "arch": "unet", "forward_order": FORWARD, "conv_layers": CONVS,
         "bn_layers": BNS, "conv_feeding_bn": {"enc.0": "enc.1", "enc.3": "enc.4"},
         "groups": {"conv.weight": {"tensors": 3, "scalars": 300}}},
    ]
    for r in records:
        c.add(r)
    return c


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    """The paths ``write`` returns for the synthetic run (drawn once: figures take a while)."""
    return full_run().write(tmp_path_factory.mktemp("smoke"))


def figure_links(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]+\]\((figures/[^)]+\.png)\)", text)


def test_report_has_tables_and_nan_is_reported_not_hidden(tmp_path):
    collector_ = collector()
    collector_.add(case("conv.weight", "init", 0.9))
    collector_.add(case("conv.bias", "init", math.nan))
    collector_.add(claim("O3", "init", [0.9, 0.8], op=">="))
    written = collector_.write(tmp_path / "smoke")
    report = written["report"].read_text()
    assert "## Replacement damage: unet / seg" in report and "0.900 ±0.000 (-0.540)" in report
    assert "non-finite" in report
    assert re.search(r"\| O3 +\| unet +\| seg +\| init +\| 0\.900 / 0\.800 +\| 0\.850 \[0\.534, 1\.166\] +\| >= 0\.5 +\| holds", report)
    doc = json.loads(written["records"].read_text())  # standard JSON despite the NaN
    assert any(r.get("damage") == "nan" for r in doc["records"])
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["figures", "records.json", "report.md"]
    assert [k for k in written if k.startswith("figure:")] == ["figure:threshold_O3"], "no data figures without their records"


def test_damage_cells_are_means_over_seeds_with_half_the_range(tmp_path):
    c = collector()
    for seed, dmg in ((0, 0.4), (1, 0.5)):
        c.add(case("conv.weight", "init", dmg, seed=seed))
    report = c.write(tmp_path)["report"].read_text()
    assert "0.450 ±0.050 (-0.270)" in report
    assert "2 seeds (0, 1)" in report


def test_full_report_has_every_section_in_order_and_a_working_contents(written):
    text = written["report"].read_text()
    order = [
        "## Claims summary", "## Observations", "## Claim status across torch versions", "## Replacement damage: unet / seg",
        "## Reasons", "### R1: features are general", "### R2: close to ideal", "## Criterion (C1)",
        "### C1: the distance criterion", "## Mechanism (M1)", "### M1: why conv biases feeding BN can be reused",
        "## Recalibration (A1)", "### BN recalibration (AdaBN)", "## Layer maps", "## Parameter groups", "## Environment",
        "## Profile",
    ]
    positions = [text.index(f"\n{h}\n") for h in order]
    assert positions == sorted(positions)
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    anchors = re.findall(r"\]\(#([^)]+)\)", text)
    assert "replacement-damage-unet--seg" in anchors and "r1-features-are-general" in anchors and "criterion-c1" in anchors
    assert len(anchors) == len(set(anchors)) and len(anchors) >= len(order) - 1
    assert all(any(re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") == a for h in headings) for a in anchors)
    # claims rows sit in their family's section, above its data
    reasons = text[text.index("## Reasons"):text.index("## Criterion (C1)")]
    assert reasons.index("| R1 ") < reasons.index("### R1") and "| R2 " in reasons and "| C1 " not in reasons
    assert "0.200 / 0.700 ✗" in reasons and "inconclusive (moved: holds -> inconclusive)" in reasons
    assert "| R2 | statement of R2 | 1 | 0 | 0 | 1 | 1 | none |" in re.sub(r" +", " ", text)
    assert "Ablation cells (an earlier design, kept for comparison; not counted above), holds / does not hold / inconclusive: R1 0 / 0 / 1 of 1." in text
    assert "| O3 | statement of O3 | 2 | 2 | 0 | 0 | 0 | unet/seg/rerandom (flip! calibrated: does not hold) |" in re.sub(r" +", " ", text)
    assert "### Damage ceilings per task" in text and "| seg    | dice     | 1 (by definition: the damage floor) |" in text
    moved = next(line for line in text.splitlines() if line.startswith("Moved against the calibration (reported, not a failure): "))
    assert "R2/unet/seg/other_task holds -> inconclusive" in moved
    assert "Machinery checks (true by construction; they guard the code and are not counted above): 1/1 hold." in text


def test_full_report_tables(written):
    text = re.sub(r" +", " ", written["report"].read_text())
    # R1: per arm, the lr chosen per seed, m_test, the advantage at the end and over the budget; NaN shown, not fatal
    assert "| head | donor, head re-initialised | 0.001 / 0.002 | 0.500 ±0.000 | 0.360 ±0.000 | 0.180 ±0.000 |" in text
    assert "| conv | donor convs, head kept (ablation, training lr) | 0.003 / 0.003 | 0.450 ±0.000 | 0.275 ±0.005 | 0.138 ±0.003 |" in text
    assert "| conv+bn.affine | donor convs + BN affine, head kept (ablation, training lr) | 0.003 / 0.003 | non-finite ±non-finite |" in text
    assert "| scratch | the target's own init | 0.001 / 0.002 | 0.300 ±0.000 | - | - |" in text
    # R2: the donor's distance to the trained target per seed, the per-layer details of the first seed, the fine-tune context
    assert "| other_task | 0.900 / 1.000 | 0.950 ±0.050 |" in text and "| other_seed | 1.300 / 1.400 | 1.350 ±0.050 |" in text
    assert "<details><summary>per-layer ratios, seed 0</summary>" in text and "| enc.3 | 0.0500 | 0.900 | 1.300 |" in text
    # layer maps: conv.bias without and with AdaBN, beside whether each conv feeds a BN
    assert "| enc.0 | yes (enc.1) | 0.03 | 0.01 | 0.30 | 0.01 |" in text and "| out | no | 1.70 | 0.40 | 0.90 | 0.40 |" in text
    assert "| unet | seg | scratch | 0.700 ±0.000 |" in text and "| unet | seg | head | 0.200 ±0.000 |" in text
    # C1: rho per seed and mean on the scale-free distance, the raw RMSE's and the confound beside it; NaN robust
    assert "| unet | seg | other_task | 0.500 / 0.600 | 0.550 ±0.050 | -0.500 ±0.000 | 0.950 ±0.000 | 0.100 ±0.000 | 3 |" in text
    assert "| rmse_init_scale | 0.100 ±0.000 |" in text
    assert "| unet | seg | other_seed | non-finite / non-finite |" in text
    # M1: scientific notation, first seed; the consequence table with AdaBN
    assert "| enc.0 | yes | 1.0e-09 | 2.0e-02 | 0.0e+00 | 5.0e-02 |" in text and "| out | no | 3.0e-03 |" in text
    assert "| unet | seg | other_task_indep | 0.300 ±0.000 | 0.020 ±0.000 |" in text
    # AdaBN: none -> adabn
    assert "| bn.running | 0.700 → 0.800 |" in text
    # Layer maps: classes after Zhang et al., NaN cell, thresholds are module constants
    assert "Zhang, Bengio, Singer 2019" in text
    assert "| non-finite non-finite | intermediate 0.30 | robust 0.03 | intermediate 0.30 |" in text
    assert "critical 0.90" in text and "robust 0.06" in text
    assert text.index("| enc.0 |", text.index("## Layer maps")) < text.index("| enc.1 |", text.index("## Layer maps"))
    assert "0.200 / 0.700 ✗" in text  # a failing seed is marked
    assert re.search(r"\| M1 \| unet \| seg \| gradient \(machinery\) \| 1\.0e-09 / 2\.0e-09 \| 1\.5e-09 \[-1\.7e-09, 4\.7e-09\] \| <= 1e-06 \| holds \|", text)


def test_figures_are_written_linked_readable_and_atomic(tmp_path):
    directory = tmp_path / "smoke"
    (directory / "figures").mkdir(parents=True)
    (directory / "figures" / ".layermap-unet-seg.png.abc.tmp").write_bytes(b"\x89PNG half")  # a killed writer's
    (directory / "figures" / "curves-pspnet-ae.png").write_bytes(b"old")  # an earlier run's figure
    written = full_run().write(directory)
    names = sorted(k.removeprefix("figure:") for k in written if k.startswith("figure:"))
    assert names == ["curves-unet-seg", "layermap-unet-seg", "layermap-unet-seg-prefix", "rmse-damage-unet-seg",
                     *(f"threshold_{o}" for o in ("A1", "C1", "O3", "O4", "R1", "R2"))], "one threshold figure per claim (evidence)"
    text = written["report"].read_text()
    assert sorted(figure_links(text)) == sorted(f"figures/{n}.png" for n in names)
    for name in names:
        path = written[f"figure:{name}"]
        assert path == directory / "figures" / f"{name}.png"
        image = matplotlib.image.imread(path)
        assert image.shape[0] >= 250 and image.shape[1] >= 400, (name, image.shape)
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size == (image.shape[1], image.shape[0])
        assert image[..., :3].std() > 0.05, f"{name} is blank"
    assert sorted(p.name for p in (directory / "figures").iterdir()) == sorted(f"{n}.png" for n in names)
    assert not list(directory.rglob("*.tmp"))


def test_report_renders_the_same_from_reloaded_json(written):
    reloaded = render(json.loads(written["records"].read_text()), {}, Figures(), results_root=written["report"].parent.parent)
    original = written["report"].read_text()
    cut = "## Profile"  # seeds: a tuple in memory, a list in JSON
    assert reloaded[:reloaded.index(cut)] == original[:original.index(cut)]
    assert not re.search(r"\b(nan|inf)\b", original), "non-finite numbers read `non-finite`"


def test_a_figure_that_fails_to_draw_is_reported_not_fatal(tmp_path, monkeypatch):
    from reusebench.report import figures

    def broken(path, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(figures, "rmse_scatter", broken)
    with pytest.warns(UserWarning, match="rmse-damage-unet-seg"):
        written = full_run().write(tmp_path)
    text = written["report"].read_text()
    assert "figure:rmse-damage-unet-seg" not in written and "figures/rmse-damage-unet-seg.png" not in text
    assert "*(figure `rmse-damage-unet-seg` could not be drawn: ValueError: boom)*" in text
    assert "figure:layermap-unet-seg" in written


def test_layer_rows_follow_position_without_an_inventory():
    c = collector()
    for r in layer_cases():
        c.add(r)
    text = render(c.document(), {}, Figures())
    maps = text[text.index("## Layer maps"):]
    # positions 1, 1, 2, 2, 3: conv and BN interleave by position, then by name
    assert [maps.index(f"| {name} ") for name in ("enc.0", "enc.1", "enc.3", "enc.4", "out")] == sorted(
        maps.index(f"| {name} ") for name in ("enc.0", "enc.1", "enc.3", "enc.4", "out"))
    assert "figures/layermap-unet-seg-prefix.png" in text


def test_a_case_without_a_seed_counts_as_the_first_seed():
    c = collector()
    c.add(case("conv.weight", "init", 0.4, seed=None))
    c.add(case("conv.weight", "init", 0.5, seed=1))
    c.add(case("conv.bias", "init", 0.05, seed=None, scope="layer", layer="enc.0", position=1))
    text = render(c.document(), {}, Figures())
    assert "0.450 ±0.050 (-0.270)" in text and "2 seeds (0, 1)" in text
    assert "robust 0.05" in text and "seed 0." in text


def test_layer_class_thresholds():
    assert report_module.ROBUST_MAX == 0.1 and report_module.CRITICAL_MIN == 0.5
    assert [layer_class(v) for v in (0.1, 0.2, 0.5, "nan", math.inf, -0.2)] == [
        "robust", "intermediate", "critical", "non-finite", "non-finite", "robust"]


def test_summary_lines_and_history_use_the_case():
    c = full_run()
    lines = c.summary_lines()
    assert "  R2: holds 0, does not hold 0, inconclusive 1 of 1; inconclusive: unet/seg/other_task" in lines
    assert "  O4: holds 0, does not hold 1, inconclusive 0 of 1" in lines
    assert any(line.startswith("  machinery checks") and "1/1 hold" in line for line in lines)
    assert any(line.startswith("  FLIPS against the calibration") and "O3/unet/seg/rerandom" in line for line in lines)
    assert any(line.startswith("  moved into or out of inconclusive") and "R2/unet/seg/other_task (holds -> inconclusive)" in line for line in lines)
    text = render(c.document(), {"2.0 (cpu)": {"O3/unet/seg/init": "does not hold"}}, Figures())
    assert "Rows whose status differs between versions: O3/unet/seg/init." in text
    assert "observation/arch/task/case" in text


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"], "no temporary file left behind"


def test_a_writer_killed_mid_write_leaves_nothing_valid_and_the_next_run_cleans_up(tmp_path):
    directory = tmp_path / "smoke"
    directory.mkdir()
    stale = directory / ".records.json.x1y2.tmp"
    stale.write_text('{"profile": ')  # what a SIGKILL between write and rename leaves behind
    assert not (directory / "records.json").exists(), "nothing a reader would take as the records"
    collector_ = collector()
    collector_.add(case("conv.weight", "init", 0.5))
    collector_.write(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["records.json", "report.md"]
    json.loads((directory / "records.json").read_text())


def test_the_scale_ladder_sets_this_run_beside_the_other_profiles(tmp_path):
    """Every profile of the ladder has a column; one never run reads "not run", never a guess."""
    run = full_run()
    first = run.write(tmp_path / "smoke")
    text = first["report"].read_text()
    section = text[text.index("## Verdicts across the scale ladder"):]
    section = section[: section.index("\n## ", 5)]
    assert "| smoke " in section and "| standard " in section and "| paper " in section
    assert "`standard`: not run" in section and "`paper`: not run" in section
    rows = [line for line in section.splitlines() if line.startswith("| O")]
    assert rows and all(line.rstrip(" |").endswith("not run") for line in rows)
    # a standard run beside it fills its column from its records.json
    (tmp_path / "standard").mkdir()
    doc = json.loads(first["records"].read_text())
    doc["profile"]["name"] = "standard"
    (tmp_path / "standard" / "records.json").write_text(json.dumps(doc))
    again = run.write(tmp_path / "smoke")["report"].read_text()
    assert "`standard`: not run" not in again and "`paper`: not run" in again
    # a committed claims.json (the claim records alone) fills a column where no records.json is
    from reusebench.merge import claims_only

    assert "`decisive`: not run" in again
    (tmp_path / "decisive").mkdir()
    doc["profile"]["name"] = "decisive"
    (tmp_path / "decisive" / "claims.json").write_text(json.dumps(claims_only(doc)))
    third = run.write(tmp_path / "smoke")["report"].read_text()
    assert "`decisive`: not run" not in third and "| decisive " in third


def test_a_ladder_column_says_which_overrides_made_it():
    """A --set run (written apart, under variants/) must not pass for the profile as committed where its records are read."""
    import dataclasses

    from reusebench.profiles import get_profile
    from reusebench.report.sections.scale import overrides

    committed = dataclasses.asdict(get_profile("smoke"))
    assert overrides(committed) == []
    assert overrides({**committed, "steps": 900, "seeds": [0, 1]}) == ["seeds=[0, 1]", "steps=900"]
    assert overrides({**committed, "name": "no-such-profile"}) == []


def test_a_claim_redefined_between_runs_is_never_compared_with_itself():
    """The same claim id under another statement (C1 on raw RMSE, then on a scale-free distance)
    gets rows of its own, named as another definition."""
    from reusebench.report.sections.scale import verdict_rows

    now = claim("C1", "init", [0.6, 0.7], op=">=", threshold=0.5)
    before = {**claim("C1", "init", [0.1, 0.2], op=">=", threshold=0.5), "statement": "an earlier statement"}
    same = claim("O3", "init", [0.9, 1.0], op=">=")
    rows, counts, notes = verdict_rows([{"records": [now, same]}, {"records": [before, same]}], current={})
    c1 = [r for r in rows if r[0].startswith("C1")]
    assert [r[0] for r in c1] == ["C1", "C1 [definition 2]"]
    assert c1[0][-1] == "-" and c1[1][-2] == "-", "each definition's cell is judged in its own run only"
    assert [r[0] for r in rows if r[0].startswith("O3")] == ["O3"], "an unchanged claim stays one row"
    assert notes == ["C1 [definition 2]: an earlier statement"]


def test_a_runs_tally_counts_evidence_cells_under_the_current_definitions_only():
    from reusebench.report.sections.scale import verdict_rows

    current = {"C1": "statement of C1", "O3": "statement of O3", "R1": "statement of R1"}
    records = [
        claim("C1", "init", [0.6, 0.7], op=">=", threshold=0.5),  # current definition: counted
        {**claim("C1", "rerandom", [0.1, 0.2], op=">=", threshold=0.5), "statement": "an earlier statement"},  # superseded
        claim("O3", "init", [0.9, 1.0], op=">="),
        claim("R1", "conv", [0.9, 1.0], op=">=", threshold=0.1, tier="ablation"),
        claim("M1", "gradient", [1e-9, 2e-9], threshold=1e-6, tier="machinery"),
    ]
    rows, counts, _ = verdict_rows([{"records": records}], current=current)
    assert sum(n for k, n in counts[0].items() if k != "apart") == 2 and counts[0]["apart"] == 2, counts
    assert any(r[0] == "C1 [earlier definition]" for r in rows) and any(r[3] == "conv (ablation)" for r in rows)
    assert not any(r[0] == "M1" for r in rows), "machinery checks are in each run's report, not the ladder"
    from reusebench.report.sections.scale import current_statements

    assert set(current_statements()) >= {"O1", "O4r", "R1", "C1"}, "the default: the observations file beside the code"


def test_a_run_without_timings_removes_an_earlier_runs_benchmark_file(tmp_path):
    """Issue 16: one run's files are never mixed with another's."""
    directory = tmp_path / "smoke"
    directory.mkdir()
    (directory / "benchmark.json").write_text('{"benchmarks": []}')
    written = full_run().write(directory)
    assert "benchmark" not in written and not (directory / "benchmark.json").exists()
