"""Comparing two classifiers on the same test images (chapter 10).

Two models scored on the same 10,000 digits are *paired*: most digits are right for both
or wrong for both, and only the digits where they disagree say which model is better.
:func:`mcnemar_exact` tests whether those disagreements lean one way more than chance
would; :func:`paired_bootstrap` gives an interval for the difference in accuracy.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np


@dataclasses.dataclass(frozen=True)
class McNemarResult:
    """Counts of the discordant pairs and the exact two-sided p-value.

    ``only_a``: images model A got right and model B wrong; ``only_b``: the reverse.
    """

    only_a: int
    only_b: int
    p_value: float


def _as_correct(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype != bool:
        raise ValueError(f"{name}: expected a 1-D boolean array (True where the prediction is right), "
                         f"got dtype {array.dtype} and shape {array.shape}")
    return array


def _paired(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_correct("correct_a", correct_a), _as_correct("correct_b", correct_b)
    if a.shape != b.shape:
        raise ValueError(f"correct_b: expected the same {len(a)} images as correct_a, got {len(b)}")
    return a, b


def mcnemar_exact(correct_a, correct_b) -> McNemarResult:
    """McNemar's exact test on paired right/wrong outcomes of two classifiers.

    Under the null hypothesis that both models are equally accurate, each of the
    ``n = only_a + only_b`` discordant images is equally likely to favour either model,
    so ``only_a`` follows Binomial(n, 1/2). The two-sided p-value is twice the smaller
    tail, capped at 1 (McNemar 1947; the exact binomial form as in Edwards 1948).

    Parameters
    ----------
    correct_a, correct_b : array of bool, shape (n_images,)
        True where model A (resp. B) classified the image correctly.

    Examples
    --------
    >>> mcnemar_exact([True, True, False, True], [False, True, True, True])
    McNemarResult(only_a=1, only_b=1, p_value=1.0)
    """
    a, b = _paired(correct_a, correct_b)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1))
    p_value = min(Fraction(1), Fraction(2 * tail, 2 ** n))
    return McNemarResult(only_a, only_b, float(p_value))


def paired_bootstrap(correct_a, correct_b, resamples: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy of A minus accuracy of B, with a percentile bootstrap interval.

    Each resample draws the test images with replacement, the *same* draw for both models.
    Only the counts of the three kinds of image matter (right for A only, for B only, or
    alike), so a resample is drawn as one multinomial count instead of ``n`` indices.

    Returns
    -------
    (difference, low, high) : the observed difference and the ``level`` interval.
    """
    a, b = _paired(correct_a, correct_b)
    if resamples < 1:
        raise ValueError(f"resamples: expected a positive count, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a fraction between 0 and 1, got {level}")
    n = len(a)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [only_a / n, only_b / n, 1 - (only_a + only_b) / n], size=resamples)
    differences = (counts[:, 0] - counts[:, 1]) / n
    low, high = np.quantile(differences, [(1 - level) / 2, (1 + level) / 2])
    return (only_a - only_b) / n, float(low), float(high)
