"""The claims: a summary, one section per family (O, R, C, M, A) and their status across torch versions."""

from __future__ import annotations

from reusebench.claims import claim_key
from reusebench.files import num
from reusebench.protocol import ARCHITECTURES, TASKS
from reusebench.report.format import _by_seed, _group, _rank, _table, fmt_any
from reusebench.report.outcomes import is_surprise, outcome

FAMILIES = {"O": "Observations", "R": "Reasons", "C": "Criterion (C1)", "M": "Mechanism (M1)", "A": "Recalibration (A1)"}


def summary_section(claims: list[dict]) -> list[str]:
    if not claims:
        return []
    rows = []
    for obs, items in sorted(_group(claims, "observation").items()):
        surprises = [f"{claim_key(c, ('arch', 'task', 'case'))} ({outcome(c).split('(')[-1].rstrip(')')})"
                     for c in items if is_surprise(c)]
        rows.append([
            obs, items[0]["statement"], f"{sum(c['holds'] for c in items)} / {len(items)}",
            sum(1 for c in items if not c["holds"] and not is_surprise(c)), ", ".join(surprises) or "none",
        ])
    return [
        "## Claims summary",
        "",
        "Each claim is one test per architecture x task x case; `expected` comes from `benchmarks/observations.toml`.",
        "",
        _table(rows, ["claim", "statement", "holds", "does not hold (expected)", "surprises"]),
        "",
    ]


def family_section(letter: str, claims: list[dict], data: list[str] = ()) -> list[str]:
    """A family of claims (O, R, C, M, A): its statements and claim rows, then its own data below."""
    items = [c for c in claims if c["observation"].startswith(letter)]
    if not items and not data:
        return []
    out = [f"## {FAMILIES.get(letter, f'Claims {letter}')}", ""]
    if items:
        statements = sorted({(c["observation"], c["statement"]) for c in items})
        statistics = sorted({str(c.get("statistic")) for c in items if c.get("statistic")})
        rows = []
        for c in sorted(items, key=lambda c: (c["observation"], _rank(ARCHITECTURES)(c["arch"]), _rank(TASKS)(c["task"]), str(c["case"]))):
            per_seed = " / ".join(fmt_any(s.get("value")) + ("" if s.get("holds", True) else " ✗") for s in _by_seed(c.get("per_seed") or []))
            half = None if c.get("spread") is None else num(c["spread"]) / 2
            rows.append([
                c["observation"], c["arch"], c["task"], c["case"], per_seed or "-",
                f"{fmt_any(c.get('mean'))} ±{fmt_any(half)}", f"{fmt_any(c['value'])} {c['op']} {c['threshold']}", outcome(c),
            ])
        out += [
            *[f"- **{o}**: {s}" for o, s in statements],
            "",
            f"The value tested against the threshold: {'; '.join(statistics) or 'see records'}. A seed on which the "
            "claim does not hold is marked ✗.",
            "",
            _table(rows, ["claim", "arch", "task", "case", "per seed", "mean ±", "value vs threshold", "outcome"]),
            "",
        ]
    return out + list(data)


def history_section(claims: list[dict], env: dict, history: dict[str, dict[str, bool]]) -> list[str]:
    """Which claim holds where, per torch version seen (stored baselines and this run)."""
    if not claims:
        return []
    columns = dict(history)
    columns[f"this run: {env['torch']} ({env['device'].split(':')[0]})"] = {claim_key(c): c["holds"] for c in claims}
    keys = sorted({k for statuses in columns.values() for k in statuses})
    mark = {True: "holds", False: "-", None: " "}
    rows = [[k, *(mark[statuses.get(k)] for statuses in columns.values())] for k in keys]
    flips = [r[0] for r in rows if len({c for c in r[1:] if c != " "}) > 1]
    return [
        "## Claim status across torch versions",
        "",
        "From the stored baselines (`results/baselines/`) and this run; `-` means the claim does not hold.",
        f"Rows whose status differs between versions: {', '.join(flips) if flips else 'none'}.",
        "",
        "<details><summary>the full table</summary>",
        "",
        _table(rows, ["observation/arch/task/case", *columns]),
        "",
        "</details>",
        "",
    ]
