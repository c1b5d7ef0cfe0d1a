"""About the run itself: timings, fixture networks, the environment and the profile (or the audit's settings)."""

from __future__ import annotations

from reusebench.convergence import BUDGET, convergence
from reusebench.files import num
from reusebench.protocol import PRIMARY_METRIC
from reusebench.report.format import _table, fmt
from reusebench.report.layout import BENCHMARK_FILE
from reusebench.report.registry import Figures


def timing_section(timings: list[dict]) -> list[str]:
    if not timings:
        return []
    rows = []
    for t in sorted(timings, key=lambda t: t["benchmark"]["fullname"]):
        b, st = t["benchmark"], t["benchmark"]["stats"]
        rows.append([b["name"], b["extra_info"]["device"], f"{st['median'] * 1e3:.2f}", f"{st['min'] * 1e3:.2f}",
                     f"{st['iqr'] * 1e3:.2f}", st["rounds"], t["measured_by"]])
    return [
        "## Timings",
        "",
        f"Milliseconds per call; also in `{BENCHMARK_FILE}` (pytest-benchmark's format).",
        "",
        _table(rows, ["case", "device", "median ms", "min ms", "iqr ms", "rounds", "measured by"]),
        "",
    ]


def convergence_text(f: dict) -> str:
    """How a network's training ended: by the early-stopping rule, at the budget, or a fixed budget;
    and what twice the patience would have kept (the look-ahead)."""
    if "converged" not in f or f.get("converged") is None:
        return "fixed budget" if (f.get("spec") or {}).get("start") else "-"
    state = convergence(f)
    doubled = f"; {state['doubled_patience']}" if state["doubled_patience"] else ""
    if not f["converged"] and f.get("stopped_at") is not None:  # stopped with no finite evaluation: diverged
        return f"NOT converged: no finite validation metric (stopped at step {f['stopped_at']})"
    if f["converged"] and f.get("best_step"):
        return f"plateau at step {f['stopped_at']} (best {f['best_step']}){doubled}"
    if state["status"] == BUDGET:
        return f"at the budget, {state['since_best']} of {state['patience']} evaluations without a gain (best {f['best_step']})"
    return f"NOT converged: budget spent {state['since_best']} evaluations after its best (step {f['best_step']})"


def patience_lines(fixtures: list[dict]) -> list[str]:
    """The look-ahead over the fully trained networks: how often twice the patience keeps a better state."""
    checked = [f for f in fixtures if f.get("patience_check")]
    if not checked:
        return []
    changed = [f for f in checked if f["patience_check"].get("improved")]
    at_budget = [f for f in fixtures if f.get("converged") is False and convergence(f)["status"] == BUDGET]
    lines = [f"Doubling the patience (the look-ahead after each stop): the same state kept for {len(checked) - len(changed)} of "
             f"{len(checked)} networks stopped by the rule"]
    if changed:
        lines[0] += "; a better one for " + ", ".join(
            f"{f['label']} (+{f['patience_check']['gain']:.4f} at step {f['patience_check']['step']}, tolerance "
            f"{f['patience_check']['tol']:.4f})" for f in changed)
    lines[0] += "."
    if at_budget:
        lines.append(f"Reached the budget inside the patience window, with at least half of it without a gain (converged "
                     f"at the budget): {', '.join(f['label'] for f in at_budget)}.")
    return [*lines, ""]


def fixtures_section(fixtures: list[dict], figures: Figures | None = None) -> list[str]:
    if not fixtures:
        return []
    rows = [
        [
            f["label"],
            "trained" if f["trained_now"] else "cache",
            f["worker"],
            fmt(f["train_seconds"], 1),
            fmt(f["final_loss"], 4),
            ", ".join(f"{k} {fmt(v)}" for k, v in (f["val_metrics"] or {}).items()) + (f" (on {f['val_metrics_on']})" if f.get("val_metrics_on") else ""),
            convergence_text(f),
        ]
        for f in fixtures
    ]
    rules = {tuple(sorted(f["rule"].items())) for f in fixtures if f.get("rule")}
    rule = (f"Convergence rule (early stopping on the validation split): training stops once {r['patience']} "
            f"evaluations in a row (every {r['every']} steps) have not beaten the best validation metric by "
            f"max({r['tol']}, {r.get('noise', 0)} standard errors of the paired difference on the validation images), and "
            "keeps the weights of the last evaluation that did (the rule's best); a network whose budget ends inside that "
            "window converged at the budget if at least half of it passed without a gain, else it has not converged (the "
            "fixture sanity test fails for it). Fine-tunes (R1) run a fixed budget."
            for r in map(dict, sorted(rules)))
    return [
        "## Fixture networks",
        "",
        *[line for text in rule for line in (text, "")],
        *patience_lines(fixtures),
        _table(rows, ["network", "this run", "worker", "train s", "final loss", "val metrics", "training ended"]),
        "",
        *(curves_links(fixtures, figures) if figures is not None else []),
    ]


def curves_links(fixtures: list[dict], figures: Figures) -> list[str]:
    """One figure of validation curves per architecture x task (fully trained networks only)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for f in fixtures:
        spec = f.get("spec") or {}
        if f.get("monitor_curve") and spec and not spec.get("start"):
            groups.setdefault((spec["arch"], spec["task"]), []).append(f)
    out = []
    for (arch, task), items in sorted(groups.items()):
        items.sort(key=lambda f: (f["spec"]["dataset"], f["spec"]["seed"], f["spec"]["conv_bias"]))
        name = lambda f: f["spec"]["dataset"] + ("" if f["spec"]["conv_bias"] else "/nobias")  # noqa: E731
        out += [figures.link(
            f"training-{arch}-{task}", f"validation curves, {arch} / {task}", "learning_curves",
            title=f"training {arch} / {task}: validation metric (x: the evaluation whose weights were kept)",
            metric=PRIMARY_METRIC.get(task, "metric"), target=None, xlabel="training step",
            legend="dataset (seed)",
            runs=[(name(f), f["spec"]["seed"], [(num(s), num(v)) for s, v in f["monitor_curve"]]) for f in items],
            marks=[(name(f), f["spec"]["seed"], f["best_step"]) for f in items if f.get("best_step") is not None],
        ), ""]
    return out


def environment_section(env: dict) -> list[str]:
    return ["## Environment", "", _table(sorted(env.items()), ["what", "value"]), ""]


def settings_section(profile: dict, audit: dict | None) -> list[str]:
    """The audit's configuration for an audit, else the profile's fields."""
    if audit:
        return ["## Audit", "", _table(sorted(audit.items()), ["key", "value"]), ""]
    return ["## Profile", "", _table(sorted(profile.items()), ["field", "value"]), ""]
