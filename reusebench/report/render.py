"""The report as one Markdown document: its head, a table of contents and the sections in order."""

from __future__ import annotations

from pathlib import Path

from reusebench.report.format import _anchor
from reusebench.report.layout import FIGURES_DIR, RECORDS_FILE
from reusebench.report.registry import Figures
from reusebench.report.sections.answers import answers_section, decide_section
from reusebench.report.sections.audit import verdict_section
from reusebench.report.sections.claims import FAMILIES, ceilings_section, family_section, history_section, summary_section
from reusebench.report.sections.criterion import c1_section
from reusebench.report.sections.damage import cases_section
from reusebench.report.sections.inventory import inventory_section
from reusebench.report.sections.layer_maps import layer_maps_section
from reusebench.report.sections.mechanism import m1_section
from reusebench.report.sections.reasons import r1_section, r2_section
from reusebench.report.sections.recalibration import adabn_section
from reusebench.report.sections.runinfo import environment_section, fixtures_section, settings_section, timing_section
from reusebench.report.sections.scale import ladder_section


def render(doc: dict, history: dict[str, dict[str, bool]], figures: Figures, results_root: Path | None = None) -> str:
    """The report of ``doc`` (``RunCollector.document()``); ``history`` holds claim statuses per torch version;
    ``results_root``: where the other profiles' latest runs are (the scale-ladder table).

    The figures the text links are registered in ``figures``; ``RunCollector.write`` draws them.
    """
    env, profile, audit = doc["environment"], doc["profile"], doc.get("audit")
    seeds = [audit["seed"]] if audit else list(profile.get("seeds") or [])
    # a case measured with seed None used the profile's first seed
    records = [{**r, "seed": seeds[0]} if "seed" in r and r["seed"] is None and seeds else r for r in doc["records"]]

    def of(kind: str) -> list[dict]:
        return [r for r in records if r["kind"] == kind]

    claims, cases, finetunes = of("claim"), of("case"), of("finetune")
    inventories = of("inventory")
    body = [
        *verdict_section(of("verdict")),
        *([] if audit else answers_section(claims, profile)),
        *summary_section(claims, figures, doc.get("calibrated_on")),
        *([] if audit else decide_section(claims, profile)),
        *ladder_section(doc, results_root),
        *family_section("O", claims, ceilings_section(cases)),
        *history_section(claims, env, history),
        *cases_section(cases, audit=bool(doc.get("audit"))),
        *family_section("R", claims, [*r1_section(finetunes, figures), *r2_section(of("donor_distance"), finetunes, seeds)]),
        *family_section("C", claims, c1_section(of("rmse_damage"), seeds, figures)),
        *family_section("M", claims, m1_section(of("bias_gradient"), cases, seeds)),
        *family_section("A", claims, adabn_section(cases)),
        *(line for letter in sorted({c["observation"][:1] for c in claims} - set(FAMILIES))
          for line in family_section(letter, claims)),
        *layer_maps_section(cases, inventories, seeds, figures),
        *inventory_section(inventories),
        *timing_section(of("timing")),
        *fixtures_section(doc["fixtures"], figures),
        *environment_section(env),
        *settings_section(profile, audit),
    ]
    return "\n".join([*_head(doc, seeds), *_contents(body), *body])


def _head(doc: dict, seeds: list) -> list[str]:
    """The title, what was run, and how to read the numbers."""
    env, profile, audit = doc["environment"], doc["profile"], doc.get("audit")
    metric = (f"m is the audit's metric `{audit['metric']}` on its validation data"
              if audit else "m is Dice for `seg` and SSIM for `ae`")
    return [
        f"# reusebench audit: `{audit['name']}`" if audit else f"# reusebench report: profile `{profile['name']}`",
        "",
        f"Run started {doc['started']}, {doc['wall_seconds']:.0f} s; torch {env['torch']} on `{env['device']}` "
        f"({env['device_name']}), {env['workers']} worker(s), seeds {', '.join(map(str, seeds)) or '-'}. "
        f"Records: `{RECORDS_FILE}`; figures: `{FIGURES_DIR}/`.",
        "",
        *[f"**No verdict.** {reason}." for reason in doc.get("stopped", [])],
        *([""] if doc.get("stopped") else []),
        *([f"**PARTIAL RUN** ({'; '.join(doc['partial'])}): this report covers only what this run selected or reached. "
           "It is written to its own folder and leaves the complete run's report as it was.", ""] if doc.get("partial") else []),
        "**How to read this.** For a target network T, a replacement gives T'; T0 is T's untrained",
        f"initialisation. `damage = (m(T) - m(T')) / (m(T) - m(T0))` on the {'validation data' if audit else 'test split'}: 0 is harmless,",
        f"1 is as bad as untrained, above 1 worse. {metric}; the raw",
        "change `delta = m(T') - m(T)` stands beside the damage. Where a number is measured on",
        "several seeds, `a ±b` is the mean over seeds ± half the range (max - min) over seeds, and",
        "`x / y` lists the values per seed in seed order. `non-finite`: NaN or infinite (e.g. T no",
        "better than T0, so damage is undefined).",
        "",
    ]


def _contents(body: list[str]) -> list[str]:
    """A table of contents of the level-2 and level-3 headings of ``body``."""
    seen: dict[str, int] = {}
    entries = []
    for line in body:
        level = len(line) - len(line.lstrip("#"))
        if line.startswith("#") and line[level:level + 1] == " ":
            title = line[level + 1:]
            anchor = _anchor(title, seen)
            if level in (2, 3):
                entries.append(f"{'  ' * (level - 2)}- [{title}](#{anchor})")
    return ["**Contents**", "", *entries, ""] if entries else []
