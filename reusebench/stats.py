"""A claim's value over seeds and test images: its mean, a simultaneous interval, an outcome.

The value of a claim in one cell (observation x arch x task x case) is measured on every
target seed, each time on the same test images. Two sources of noise move it: which seeds
were drawn (networks differ) and which test images were drawn (the same images for every
seed, so their noise does not average out over seeds). The interval combines them:

    se^2 = s^2_seeds / n  +  var_images

where ``s^2_seeds`` is the sample variance of the per-seed values (it also carries each
seed's share of image noise that is not common to all seeds, so it errs on the wide side)
and ``var_images`` is the variance of the seed-mean value over bootstrap resamples of the
test images, one resample shared by all seeds (paired, as the measurement is). The interval
is mean +- t(n-1) * se, with Student's t for the few seeds (n = 5: a normal or percentile
bootstrap interval over five values covers far less than its nominal rate; rliable,
Agarwal et al. 2021, makes the same point for few runs). With one seed (an audit) only the
image term is left and the quantile is normal.

Many cells, one family: an observation's verdict is a count over its cells, so the error is
controlled over the family: Bonferroni over its m distinct cells. A cell's verdict uses one
bound of its interval (the lower for ">=" holds / "<=" does not hold, the upper otherwise), so
each bound is a one-sided 1 - alpha/m bound (the interval's two-sided level is 1 - 2 alpha/m):
the probability that any cell of the family gets a wrong holds / does-not-hold verdict is at
most alpha. Each cell is judged in its own test, possibly on another xdist worker, which a
step-down procedure (Holm, Benjamini-Hochberg) could not do without gathering every cell
first; Bonferroni is the single step Holm refines, so the counts are slightly conservative.

Outcomes: *holds* when the whole interval is on the claim's side of the threshold, *does not
hold* when it is wholly on the other side, *inconclusive* when it straddles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # per observation (family-wise)
RESAMPLES = 1000
HOLDS, FAILS, INCONCLUSIVE, UNDEFINED = "holds", "does not hold", "inconclusive", "undefined"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    se_seeds: float  # s / sqrt(n)
    se_images: float  # sd of the seed mean over test-image resamples (0: not measured)
    n_seeds: int
    level: float  # the per-cell confidence level (after the family correction)

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "se_seeds": self.se_seeds,
                "se_images": self.se_images, "n_seeds": self.n_seeds, "level": self.level}

    def text(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def cell_level(family_size: int, alpha: float = ALPHA) -> float:
    """The per-cell two-sided level whose one-sided bounds (1 - alpha/m each) keep the chance of
    any wrong verdict in a family of ``family_size`` cells at most ``alpha``."""
    return 1 - 2 * alpha / max(family_size, 1)


def interval(per_seed: list[float], image_means: np.ndarray | None = None, *, level: float = 0.95) -> Interval:
    """The interval of the mean of ``per_seed`` values; ``image_means``: the seed-mean value
    under each resample of the test images (see ``image_resamples``), or None when the value
    has no per-image parts (its image noise is then not in the interval; say so)."""
    values = np.asarray(per_seed, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("no per-seed values")
    mean = float(values.mean())
    if not np.isfinite(values).all():
        return Interval(math.nan, math.nan, math.nan, math.nan, math.nan, n, level)
    se_seeds = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    se_images = 0.0
    if image_means is not None:  # a resample on which the damage is undefined leaves the image noise unknown
        se_images = float(image_means.std(ddof=1)) if np.isfinite(image_means).all() and len(image_means) > 1 else math.nan
    se = math.hypot(se_seeds, se_images)
    q = float(stats.t.ppf(1 - (1 - level) / 2, df=n - 1) if n > 1 else stats.norm.ppf(1 - (1 - level) / 2))
    if not math.isfinite(se):
        return Interval(mean, math.nan, math.nan, se_seeds, se_images, n, level)
    return Interval(mean, mean - q * se, mean + q * se, se_seeds, se_images, n, float(level))


def outcome(iv: Interval, op: str, threshold: float) -> str:
    """holds / does not hold / inconclusive (undefined when the interval is not finite)."""
    if not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return UNDEFINED
    above, below = iv.low >= threshold, iv.high < threshold
    if op == ">=":
        return HOLDS if above else FAILS if below else INCONCLUSIVE
    above_strict, below_or_at = iv.low > threshold, iv.high <= threshold
    return HOLDS if below_or_at else FAILS if above_strict else INCONCLUSIVE


def resample_indices(n_images: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """``resamples`` x ``n_images`` bootstrap indices (fixed seed: deterministic verdicts)."""
    return np.random.default_rng(seed).integers(0, n_images, size=(resamples, n_images))


def damage_resamples(target: np.ndarray, replaced: np.ndarray, init: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Damage (m(T) - m(T')) / (m(T) - m(T0)) on each resample of the test images (NaN where
    the trained network is no better than its initialisation on the resample)."""
    t, r, z = target[idx].mean(1), replaced[idx].mean(1), init[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t - z > 0, (t - r) / (t - z), np.nan)


def rank_claim_power(
    n_layers: int, n_seeds: int, true_rho: float, threshold: float, *, level: float, op: str = ">=", reps: int = 4000, seed: int = 0
) -> dict[str, float]:
    """How often the interval rule (``interval`` without image noise, ``outcome``) reaches each
    outcome for a claim ``rho op threshold`` on a Spearman rho over ``n_layers`` (per seed,
    ``n_seeds`` seeds) when every seed's layers are drawn from a bivariate normal whose Spearman
    correlation is ``true_rho`` (Pearson 2 sin(pi rho / 6)).

    Monte Carlo with a fixed seed (deterministic). Indicative, not exact: it assumes each seed's
    layers are an independent draw, while real seeds share their layers (their rhos may be
    correlated, their spread smaller or larger than here).
    """
    if n_layers < 3 or n_seeds < 1:
        raise ValueError(f"need >= 3 layers and >= 1 seed, got {n_layers}, {n_seeds}")
    if op not in (">=", "<="):
        raise ValueError(f"unknown operator {op!r}; valid choices: >=, <=")
    rng = np.random.default_rng(seed)
    r = 2 * math.sin(math.pi * true_rho / 6)
    x = rng.standard_normal((reps, n_seeds, n_layers))
    y = r * x + math.sqrt(max(1 - r * r, 0.0)) * rng.standard_normal((reps, n_seeds, n_layers))
    rx, ry = x.argsort(-1).argsort(-1).astype(float), y.argsort(-1).argsort(-1).astype(float)
    rx -= rx.mean(-1, keepdims=True)
    ry -= ry.mean(-1, keepdims=True)
    rho = (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    mean = rho.mean(1)
    if n_seeds > 1:
        q = float(stats.t.ppf(1 - (1 - level) / 2, df=n_seeds - 1))
        half = q * rho.std(1, ddof=1) / math.sqrt(n_seeds)
    else:  # one seed and no per-image parts: the rule's interval has no width (``interval``)
        half = np.zeros(reps)
    low, high = mean - half, mean + half
    if op == ">=":
        holds, fails = low >= threshold, high < threshold
    else:
        holds, fails = high <= threshold, low > threshold
    return {"true_rho": true_rho, HOLDS: float(np.mean(holds)), FAILS: float(np.mean(fails)),
            INCONCLUSIVE: float(np.mean(~holds & ~fails))}
