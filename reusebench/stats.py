"""A claim's value over seeds and test images: its mean, a simultaneous interval, an outcome.

The value of a claim in one cell (observation x arch x task x case) is measured on every
target seed, each time on the same test images. Write seed s's value as

    v_s = mu + a_s + b_s

with ``a_s`` the seed's own effect (which network was drawn) and ``b_s`` the error of its
finite test split. The images are shared, so the ``b_s`` are correlated across seeds: with
``c`` their cross-seed covariance, the seed mean's variance is

    Var(mean) = (sigma_a^2 + Var(b) - c) / n + c  =  E[s^2] / n + c

because the sample variance ``s^2`` of the per-seed values already carries each seed's own,
non-shared image noise (``Var(b) - c``). So the standard error is ``se^2 = s^2 / n + c``: the
seed term as measured, plus only the *shared* image component. ``c`` comes from a paired
bootstrap: each resample of the test images is shared by all seeds, giving per-seed values
``v_s^r``, and ``c = (n Var_r(mean_s v_s^r) - mean_s Var_r(v_s^r)) / (n - 1)`` (clipped at 0).
Adding the whole variance of the bootstrapped seed mean instead, as this module did before,
counts the non-shared part twice.

The quantile is Student's t with Welch-Satterthwaite degrees of freedom for the two terms:
``s^2 / n`` has n - 1; the image term rests on the k independent images (however many
resamples are drawn), and as a covariance it has 2 rho^2 (k - 1) / (1 + rho^2), rho its share
of each seed's resampling variance (``shared_image_df``), so a cell
whose interval is dominated by the well-measured image term is not held to t(n - 1) (5.9
instead of 3.6 at n = 5 and 99.8%). With one seed (an audit) only the image term is left:
``se^2 = Var_r(v^r)`` with (images - 1) degrees of freedom. Few seeds and a seed-dominated
term keep t(n - 1): a normal or percentile bootstrap over five values covers far less than
its nominal rate (rliable, Agarwal et al. 2021, makes the same point for few runs).
``tests/test_stats.py`` checks the coverage on synthetic data with a known truth.

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
    se_images: float  # sqrt of the shared image component c (one seed: the image noise's whole se; 0: not measured)
    n_seeds: int
    level: float  # the per-cell confidence level (after the family correction)
    df: float = math.inf  # Welch-Satterthwaite degrees of freedom of the quantile

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "se_seeds": self.se_seeds,
                "se_images": self.se_images, "n_seeds": self.n_seeds, "level": self.level, "df": self.df}

    def text(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"

    @property
    def dominant(self) -> str:
        """Which noise term is the larger share of the interval: "seeds" or "test images"."""
        return "test images" if self.se_images > self.se_seeds else "seeds"


def cell_level(family_size: int, alpha: float = ALPHA) -> float:
    """The per-cell two-sided level whose one-sided bounds (1 - alpha/m each) keep the chance of
    any wrong verdict in a family of ``family_size`` cells at most ``alpha``."""
    return 1 - 2 * alpha / max(family_size, 1)


def shared_image_df(image_values: np.ndarray, n_images: int | None, shared: float) -> float:
    """Degrees of freedom of the shared image term ``shared`` (c, from ``shared_image_variance``).
    One seed: its resampling variance rests on k - 1. Several: c is a covariance, estimated less
    well the smaller its share rho of each seed's resampling variance: Satterthwaite's
    2 rho^2 (k - 1) / (1 + rho^2) for a sample covariance (one pair of seeds; averaging over
    pairs only adds information, so this errs on the safe side)."""
    k1 = math.inf if n_images is None else max(n_images - 1, 1)
    if image_values.shape[0] == 1 or not math.isfinite(k1):
        return k1
    each = float(image_values.var(axis=1, ddof=1).mean())
    rho = shared / each if each > 0 else 0.0
    return max(2 * rho * rho * k1 / (1 + rho * rho), 1.0)


def shared_image_variance(image_values: np.ndarray) -> float:
    """The cross-seed covariance ``c`` of the image errors, from per-seed values under shared
    resamples (``image_values``: seeds x resamples); one seed: its whole resampling variance."""
    n = image_values.shape[0]
    each = float(image_values.var(axis=1, ddof=1).mean())
    if n == 1:
        return each
    of_mean = float(image_values.mean(axis=0).var(ddof=1))
    return max((n * of_mean - each) / (n - 1), 0.0)


def welch_df(terms: list[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance terms, each (variance, df)."""
    total = sum(v for v, _ in terms)
    denom = sum(v * v / df for v, df in terms if v > 0 and math.isfinite(df))
    return total * total / denom if denom > 0 else math.inf


def interval(
    per_seed: list[float], image_values: np.ndarray | None = None, *, level: float = 0.95, n_images: int | None = None
) -> Interval:
    """The interval of the mean of ``per_seed`` values. ``image_values``: each seed's value under
    each resample of the shared test images (seeds x resamples, one resample shared by all
    seeds: ``image_resamples``), or None when the value has no per-image parts (its image noise
    is then not in the interval; say so). ``n_images``: how many independent images the
    resamples draw from (the image term's degrees of freedom, n_images - 1; None: many)."""
    values = np.asarray(per_seed, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("no per-seed values")
    mean = float(values.mean())
    if not np.isfinite(values).all():
        return Interval(math.nan, math.nan, math.nan, math.nan, math.nan, n, level, math.nan)
    var_seeds = float(values.var(ddof=1) / n) if n > 1 else 0.0
    var_images = 0.0
    if image_values is not None:
        image_values = np.atleast_2d(np.asarray(image_values, dtype=float))
        if image_values.shape[0] != n:
            raise ValueError(f"image_values has {image_values.shape[0]} rows for {n} seeds")
        # a resample on which the value is undefined leaves the image noise unknown
        ok = np.isfinite(image_values).all() and image_values.shape[1] > 1
        var_images = shared_image_variance(image_values) if ok else math.nan
        image_df = shared_image_df(image_values, n_images, var_images) if ok else math.inf
        if n_images is not None and n_images > 1:  # a bootstrap variance of a mean is (k - 1) / k of the unbiased one
            var_images *= n_images / (n_images - 1)
    else:
        image_df = math.inf
    df = welch_df([(var_seeds, n - 1 if n > 1 else math.inf), (var_images, image_df)]) if math.isfinite(var_images) else math.nan
    se = math.sqrt(var_seeds + var_images) if math.isfinite(var_images) else math.nan
    se_seeds, se_images = math.sqrt(var_seeds), math.sqrt(var_images) if math.isfinite(var_images) else math.nan
    if not math.isfinite(se):
        return Interval(mean, math.nan, math.nan, se_seeds, se_images, n, level, df)
    if se == 0 and n == 1:  # one value, no per-image parts: the rule has no width to give
        return Interval(mean, mean, mean, 0.0, 0.0, n, float(level), math.inf)
    q = float(stats.t.ppf(1 - (1 - level) / 2, df=df) if math.isfinite(df) else stats.norm.ppf(1 - (1 - level) / 2))
    return Interval(mean, mean - q * se, mean + q * se, se_seeds, se_images, n, float(level), df)


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


def advantage_resamples(arm: np.ndarray, scratch: np.ndarray, target: np.ndarray, floor: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """R1's advantage (m(arm) - m(scratch)) / (m(T) - floor) on each resample of the test images
    (the same images for all four; NaN where the trained network is no better than the floor)."""
    a, s, t, f = (np.asarray(x, float)[idx].mean(1) for x in (arm, scratch, target, floor))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t - f > 0, (a - s) / (t - f), np.nan)


def rank_correlation_resamples(distances: np.ndarray, layer_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                               idx: np.ndarray, layer_idx: np.ndarray) -> np.ndarray:
    """C1's Spearman rho between per-layer ``distances`` and per-layer damages, on each resample:
    the test images (``idx``, resamples x images) and the layers (``layer_idx``, resamples x
    layers; a pairs bootstrap: a layer drawn twice counts twice, ties ranked by their average).
    ``layer_parts``: per layer, the per-image metric of (T, T', floor). NaN where undefined."""
    from scipy.stats import rankdata

    damages = np.stack([damage_resamples(*parts, idx) for parts in layer_parts], axis=1)  # resamples x layers
    rows = np.arange(len(idx))[:, None]
    x = rankdata(np.asarray(distances, float)[layer_idx], axis=1)
    y = rankdata(damages[rows, layer_idx], axis=1)
    x -= x.mean(1, keepdims=True)
    y -= y.mean(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))
    return np.where(np.isfinite(damages).all(1), rho, np.nan)


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


def interval_of_terms(mean: float, n: int, var_seeds: float, var_images: float, image_df: float, level: float) -> Interval:
    """An interval from its two variance terms, as ``interval`` builds it: Student's t at the
    Welch-Satterthwaite degrees of freedom (seeds: n - 1; images: ``image_df``)."""
    df = welch_df([(var_seeds, n - 1 if n > 1 else math.inf), (var_images, image_df)])
    se = math.sqrt(var_seeds + var_images)
    q = float(stats.t.ppf(1 - (1 - level) / 2, df=df) if math.isfinite(df) else stats.norm.ppf(1 - (1 - level) / 2))
    return Interval(mean, mean - q * se, mean + q * se, math.sqrt(var_seeds), math.sqrt(var_images), n, float(level), df)


# What a what-if may ask for: more seeds than this, or more test images than this many times the
# profile's, is not an affordable run of this suite ("at the threshold").
AFFORDABLE_SEEDS = 100  # the profile's seeds must lie in 0..99 (the donor pool starts at 100)
AFFORDABLE_IMAGE_FACTOR = 16


@dataclass(frozen=True)
class Decider:
    """What would put an inconclusive cell's interval on one side of its threshold, at the
    measured mean and spreads: ``seeds`` (at the profile's test images), ``images`` (at its
    seeds), or ``both`` (seeds at ``images_with``); ``at_threshold`` when none is affordable."""

    dominant: str  # "seeds" or "test images": the larger term of the interval now
    margin: float  # |mean - threshold|
    seeds: int | None  # seeds needed, the test images as now
    images: int | None  # test images needed, the seeds as now
    both: tuple[int, int] | None  # (seeds, images) when neither alone is enough: seeds at AFFORDABLE_IMAGE_FACTOR x images
    at_threshold: bool
    held_by: str | None = None  # a term that neither more seeds nor more images shrink, wider than the margin

    def text(self) -> str:
        head = f"{self.dominant} dominate the interval; |mean - threshold| = {self.margin:.3g}"
        if self.held_by:
            return (f"{head}: held by the {self.held_by} term, which neither more seeds nor more test images shrink "
                    "(a network has only so many layers); the design cannot decide it")
        if self.at_threshold:
            return (f"{head}: at the threshold, no affordable n (more than {AFFORDABLE_SEEDS} seeds and "
                    f"{AFFORDABLE_IMAGE_FACTOR}x the test images would not decide it at the measured mean and spreads)")
        ways = []
        if self.seeds is not None:
            ways.append(f"{self.seeds} seeds")
        if self.images is not None:
            ways.append(f"{self.images} test images")
        if self.both is not None:
            ways.append(f"{self.both[0]} seeds with {self.both[1]} test images")
        return f"{head}; would be decided by {' or '.join(ways)} (at the measured mean and spreads)"


def image_term_df(iv: Interval) -> float:
    """The degrees of freedom the image term had in ``iv``, backed out of its Welch-Satterthwaite
    df (``interval`` stores the combined df only): infinite where the term is 0 or the df is."""
    vs, vi = iv.se_seeds**2, iv.se_images**2
    if not (vi > 0 and math.isfinite(iv.df) and iv.df > 0):
        return math.inf
    seeds_part = vs * vs / (iv.n_seeds - 1) if iv.n_seeds > 1 and vs > 0 else 0.0
    rest = (vs + vi) ** 2 / iv.df - seeds_part
    return vi * vi / rest if rest > 0 else math.inf


def what_would_decide(iv: Interval, threshold: float, n_images: int | None, fixed_term: str | None = None) -> Decider:
    """The smallest number of seeds (the images as now), of test images (the seeds as now), or
    of seeds with AFFORDABLE_IMAGE_FACTOR x the images, whose interval at the same level would
    exclude ``threshold``, if the mean and the spreads stayed as measured: the seed term scales
    as 1/n, the shared image term as 1/images, its df the one the cell's interval gave it
    (``image_term_df``) grown in proportion to k - 1: at the profile's own seeds and images the
    what-if is the measured interval, so it never names the run's own n as deciding it.
    Indicative, as any power calculation from the data.
    ``n_images`` None: the image term is not one more test images shrink (none, or one over
    layers too): seeds only; ``fixed_term`` names such a term (e.g. "test images and layers"):
    where even infinitely many seeds would leave it wider than the margin, the cell is held by it
    (``held_by``), not at its threshold."""
    n, margin = iv.n_seeds, abs(iv.mean - threshold)
    scalable = n_images is not None
    n_images = n_images or 1
    s2 = iv.se_seeds**2 * n  # the per-seed values' sample variance
    c = iv.se_images**2  # the shared image term at n_images
    df_now = image_term_df(iv)  # the image term's df in the cell's own interval

    def image_df(images: int) -> float:
        # the df the interval gave the image term, growing with the images as k - 1 does, so
        # that the what-if at the profile's own seeds and images is the measured interval
        if not scalable or not math.isfinite(df_now) or n_images <= 1:
            return df_now
        return df_now * max(images - 1, 1) / (n_images - 1)

    def decided(seeds: int, images: int) -> bool:
        if margin == 0:
            return False
        vs, vi = s2 / seeds, c * n_images / images
        if vs + vi == 0:
            return True
        half = interval_of_terms(iv.mean, seeds, vs, vi, image_df(images), iv.level)
        return half.high - iv.mean < margin

    def smallest(candidates, test) -> int | None:
        return next((k for k in candidates if test(k)), None)

    seeds = smallest(range(n, AFFORDABLE_SEEDS + 1), lambda k: decided(k, n_images))
    images = smallest(_grid(n_images, AFFORDABLE_IMAGE_FACTOR * n_images), lambda k: decided(n, k)) if scalable else None
    both = None
    if seeds is None and images is None and scalable:
        most = AFFORDABLE_IMAGE_FACTOR * n_images
        found = smallest(range(n, AFFORDABLE_SEEDS + 1), lambda k: decided(k, most))
        both = None if found is None else (found, most)
    undecided = seeds is None and images is None and both is None
    held_by = None
    if undecided and not scalable and fixed_term and c > 0:
        tail = 1 - (1 - iv.level) / 2  # infinitely many seeds leave the fixed term at its own df
        q = float(stats.t.ppf(tail, df=df_now) if math.isfinite(df_now) else stats.norm.ppf(tail))
        held_by = fixed_term if margin <= q * math.sqrt(c) else None
    return Decider("test images" if iv.se_images > iv.se_seeds else "seeds", margin, seeds, images, both,
                   undecided and held_by is None, held_by)


def _grid(start: int, stop: int) -> list[int]:
    """Image counts to try: multiples of 16 from ``start`` up to ``stop`` (a batch's worth)."""
    first = -(-start // 16) * 16
    return [start, *range(max(first, start + 1), stop + 1, 16)]
