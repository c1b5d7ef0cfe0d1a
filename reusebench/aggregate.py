"""Claim-level answers: one per observation, over its evidence cells.

The paper's claims are general ("BN weight and bias can be reused"); a cell answers for one
configuration (arch x task x donor or arm). The claim-level answer aggregates an observation's
evidence cells, the way rliable (Agarwal et al. 2021) aggregates tasks:

- **the aggregate value**: per seed, the mean (and the interquartile mean, IQM: the mean of the
  middle half, robust to one odd configuration) of the cells' values; then the cells' rule on
  those per-seed aggregates: their mean, a Student-t interval over seeds with the shared
  test-image term (``stats.interval_of_terms``), the outcome against the observation's
  threshold. Seed s's networks serve every cell, so resampling seeds for the aggregate means
  resampling them jointly across cells: the per-seed aggregate is exactly that, and a t
  interval over it keeps the cells' coverage at few seeds (a percentile bootstrap over five
  values covers far less than its nominal rate; ``reusebench.stats``). The image term of the
  aggregate is bounded by the mean of the cells' shared image standard errors, squared (the
  cells use the same test images; a perfect correlation is the largest variance a mean of
  them can have): conservative, said.
- **the share of configurations**: the fraction of cells whose mean over seeds lies on the
  claim's side of the threshold, with a 95% interval from resampling the seeds jointly
  (indicative at five seeds), beside the cells' decided counts.
- the same **per stratum** where the cells are donors: trained donors that share the target's
  initialisation, trained donors with an independent one, and synthetic donors.

The family: one claim-level answer per observation in the table, so the aggregate interval is
simultaneous over the answered observations (Bonferroni, as the cells are over theirs).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.stats import trim_mean

from reusebench import stats
from reusebench.files import num

SHARE_RESAMPLES = 2000
# The donors' strata: whether a trained donor shares the target's initialisation (the same seed;
# docs/protocol.md section 7), or not, or the donor is no trained network.
DONOR_STRATA = {
    "other_task": "trained, shared initialisation",
    "other_data": "trained, shared initialisation",
    "other_task_indep": "trained, independent initialisation",
    "other_seed": "trained, independent initialisation",
    "init": "untrained (synthetic)",
    "rerandom": "untrained (synthetic)",
    "defaults": "untrained (synthetic)",
}


@dataclass(frozen=True)
class Aggregate:
    """One statistic (mean or IQM) of a set of cells, with its interval and outcome."""

    statistic: str
    interval: stats.Interval
    outcome: str


@dataclass(frozen=True)
class Answer:
    """The claim-level answer of one observation over a set of its evidence cells."""

    observation: str
    stratum: str  # "all cells" or a DONOR_STRATA name
    cells: int
    seeds: int
    counts: dict[str, int]  # the cells' own outcomes
    mean: Aggregate
    iqm: Aggregate
    share: float  # of the cells whose mean lies on the claim's side of the threshold
    share_interval: tuple[float, float]
    op: str
    threshold: float
    unit: str

    @property
    def words(self) -> str:
        """The aggregate verdict in words."""
        side = {stats.HOLDS: "holds", stats.FAILS: "does not hold", stats.INCONCLUSIVE: "cannot tell",
                stats.UNDEFINED: "undefined"}[self.mean.outcome]
        return f"{side} on average over {self.cells} configuration{'s' * (self.cells != 1)}"


def _on_side(values: np.ndarray, op: str, threshold: float) -> np.ndarray:
    return values >= threshold if op == ">=" else values <= threshold


def answer(claims: list[dict], *, n_images: int | None, family_size: int, stratum: str = "all cells") -> Answer | None:
    """The answer over ``claims`` (claim records of one observation's evidence cells; each
    distinct cell once). None when no cell has a finite value on every common seed."""
    if not claims:
        return None
    first = claims[0]
    seed_sets = [{p["seed"] for p in c["per_seed"]} for c in claims]
    seeds = sorted(set.intersection(*seed_sets))
    rows = []
    for c in claims:
        by_seed = {p["seed"]: num(p["value"]) for p in c["per_seed"]}  # a reloaded JSON carries non-finite values as text
        row = [by_seed[s] for s in seeds]
        if all(v is not None and math.isfinite(v) for v in row):
            rows.append((c, np.asarray(row, dtype=float)))
    if not rows or not seeds:
        return None
    values = np.stack([r for _, r in rows])  # cells x seeds
    op, threshold = first["op"], first["threshold"]
    se_images = [num(c["interval"].get("se_images")) or 0.0 for c, _ in rows]
    se_images = [v for v in se_images if math.isfinite(v)]
    var_images = float(np.mean(se_images)) ** 2 if se_images else 0.0
    image_df = max(n_images - 1, 1) if n_images else math.inf
    level = stats.cell_level(family_size)
    n = len(seeds)

    def aggregate(name: str, per_seed: np.ndarray) -> Aggregate:
        var_seeds = float(per_seed.var(ddof=1) / n) if n > 1 else 0.0
        iv = stats.interval_of_terms(float(per_seed.mean()), n, var_seeds, var_images, image_df, level)
        return Aggregate(name, iv, stats.outcome(iv, op, threshold))

    mean = aggregate("mean", values.mean(axis=0))
    iqm = aggregate("IQM", np.array([trim_mean(values[:, j], 0.25) for j in range(n)]))
    share = float(_on_side(values.mean(axis=1), op, threshold).mean())
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, size=(SHARE_RESAMPLES, n))
    resampled = values[:, idx].mean(axis=2)  # cells x resamples
    shares = _on_side(resampled, op, threshold).mean(axis=0)
    low, high = (float(x) for x in np.percentile(shares, [2.5, 97.5]))
    counts = {stats.HOLDS: 0, stats.FAILS: 0, stats.INCONCLUSIVE: 0}
    for c, _ in rows:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    return Answer(first["observation"], stratum, len(rows), n, counts, mean, iqm, share, (low, high), op, threshold,
                  first.get("unit", ""))


def distinct(claims: list[dict]) -> list[dict]:
    """Each cell once (a shard merge or a rerun may carry a cell twice: the last one counts)."""
    cells = {}
    for c in claims:
        cells[c["observation"], c["arch"], c["task"], c["case"]] = c
    return list(cells.values())


def answers(claims: list[dict], *, n_images: int | None) -> list[Answer]:
    """Per observation, the answer over all its evidence cells, then per donor stratum (where
    its cells are donors and more than one stratum is present)."""
    evidence = [c for c in distinct(claims) if c.get("tier", "evidence") == "evidence"]
    by_obs: dict[str, list[dict]] = defaultdict(list)
    for c in evidence:
        by_obs[c["observation"]].append(c)
    family = len(by_obs)
    out = []
    for oid, cells in sorted(by_obs.items(), key=lambda kv: ("ORCMA".find(kv[0][:1]) % 6, kv[0])):  # the paper's claims first
        whole = answer(cells, n_images=n_images, family_size=family)
        if whole is None:
            continue
        out.append(whole)
        strata: dict[str, list[dict]] = defaultdict(list)
        for c in cells:
            strata[DONOR_STRATA.get(c["case"], "")].append(c)
        if "" not in strata and len(strata) > 1:
            for name in (s for s in dict.fromkeys(DONOR_STRATA.values()) if s in strata):
                part = answer(strata[name], n_images=n_images, family_size=family, stratum=name)
                if part is not None:
                    out.append(part)
    return out
