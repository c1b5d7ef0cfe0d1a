"""Small helpers of the report's text: numbers, tables, heading anchors, records grouped and ordered."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from tabulate import tabulate

from reusebench.files import num
from reusebench.protocol import ARCHITECTURES, TASKS

# ----------------------------------------------------------------------------- numbers


def fmt(value, digits: int = 3, style: str = "f") -> str:
    """``-`` for None, ``non-finite`` for NaN/inf (also as the strings JSON gives back)."""
    x = num(value)
    if x is None:
        return "-"
    return f"{x:.{digits}{style}}" if math.isfinite(x) else "non-finite"


def sci(value) -> str:
    return fmt(value, 1, "e")


def fmt_any(value) -> str:
    """``fmt``, or scientific notation for numbers too small for three decimals (gradients, drifts)."""
    x = num(value)
    return sci(x) if x is not None and 0 < abs(x) < 5e-4 else fmt(x)


# ----------------------------------------------------------------------------- records grouped and ordered


def _rank(order: Sequence) -> Callable:
    """Sort key: the names of ``order`` in its order, any others after them, alphabetically."""
    order = list(order)
    return lambda x: (order.index(x), "") if x in order else (len(order), str(x))


def _present(order: Sequence, found: Iterable) -> list:
    return sorted(set(found), key=_rank(order))


def _group(records: Iterable[dict], *keys: str) -> dict:
    """Records by the value of ``keys`` (a tuple for several keys), in first-seen order."""
    out: dict = defaultdict(list)
    for r in records:
        values = tuple(r.get(k) for k in keys)
        out[values if len(keys) > 1 else values[0]].append(r)
    return out


def _pairs(records: list[dict]) -> list[tuple[tuple[str, str], list[dict]]]:
    """The records per (arch, task), in the protocol's order."""
    groups = _group(records, "arch", "task")
    return sorted(groups.items(), key=lambda kv: (_rank(ARCHITECTURES)(kv[0][0]), _rank(TASKS)(kv[0][1])))


def _by_seed(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (num(r.get("seed")) or 0, str(r.get("seed"))))


def _first_seed(records: list[dict], seeds: Sequence[int]):
    """The profile's first seed if the records have it, else their smallest seed."""
    present = [r.get("seed") for r in _by_seed(records)]
    return seeds[0] if seeds and seeds[0] in present else (present[0] if present else None)


# ----------------------------------------------------------------------------- values over seeds


def _mean_spread(values: Iterable) -> tuple[float | None, float | None]:
    """Mean and half the range (max - min) of the numbers among ``values``; NaN if one is not finite."""
    xs = [num(v) for v in values if v is not None]
    if not xs:
        return None, None
    if not all(math.isfinite(x) for x in xs):
        return math.nan, math.nan
    return sum(xs) / len(xs), (max(xs) - min(xs)) / 2


def _pm(values: Iterable, digits: int = 3) -> str:
    """``mean ±half-range`` over seeds."""
    mean, half = _mean_spread(values)
    return "-" if mean is None else f"{fmt(mean, digits)} ±{fmt(half, digits)}"


def _mean(values: Iterable):
    return _mean_spread(values)[0]


def _per_seed(records: Iterable[dict], field: str, digits: int = 3) -> str:
    """``0.412 / 0.371``: one value per seed, in seed order."""
    return " / ".join(fmt(r.get(field), digits) for r in _by_seed(records))


def _seeds_text(records: Iterable[dict]) -> str:
    seeds = [str(r.get("seed")) for r in _by_seed(records)]
    seeds = list(dict.fromkeys(seeds))
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(seeds)})"


# ----------------------------------------------------------------------------- tables and headings


def _table(rows: list[list], headers: Sequence[str]) -> str:
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def _anchor(title: str, seen: dict[str, int]) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, duplicates numbered."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"

