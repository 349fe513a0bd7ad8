"""McNemar's exact test and the paired bootstrap, against cases worked out by hand and against
SciPy (`scipy.stats.binomtest`, `scipy.stats.bootstrap`), which requirements.txt pins for these
tests only: the course's code does not use it."""

import numpy as np
import pytest

from course_utils.experiments.paired_statistics import mcnemar_exact, paired_bootstrap


def _pairs(both, only_a, only_b, neither):
    """Right/wrong arrays with the given counts of each kind of image."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_hand_computed():
    # 1 image only A gets right, 5 only B: n = 6 discordant, P(X <= 1) = (1 + 6) / 64,
    # two-sided p = 14 / 64 = 0.21875. Images right or wrong for both do not count.
    result = mcnemar_exact(*_pairs(90, 1, 5, 4))
    assert (result.only_a, result.only_b) == (1, 5)
    assert result.p_value == 14 / 64
    # 0 against 6: p = 2 / 64; and the test is symmetric in A and B.
    assert mcnemar_exact(*_pairs(10, 0, 6, 0)).p_value == 2 / 64
    assert mcnemar_exact(*_pairs(10, 6, 0, 0)).p_value == 2 / 64


def test_mcnemar_balanced_or_no_disagreement_is_one():
    assert mcnemar_exact(*_pairs(5, 3, 3, 1)).p_value == 1.0
    assert mcnemar_exact(*_pairs(5, 0, 0, 1)).p_value == 1.0


def test_mcnemar_large_counts_stay_exact():
    # 20 against 40 discordant images: sum_{i<=20} C(60, i) / 2**60, doubled.
    result = mcnemar_exact(*_pairs(9000, 20, 40, 10))
    assert result.p_value == pytest.approx(0.0134893, rel=1e-5)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="correct_a.*boolean"):
        mcnemar_exact([1, 0], [True, False])
    with pytest.raises(ValueError, match="correct_b.*same 2 images"):
        mcnemar_exact([True, False], [True, False, True])


def test_bootstrap_interval_contains_the_difference_and_is_reproducible():
    a, b = _pairs(900, 30, 10, 60)
    difference, low, high = paired_bootstrap(a, b, resamples=2000, seed=1)
    assert difference == pytest.approx(0.02)
    assert low < difference < high and low > 0
    assert paired_bootstrap(a, b, resamples=2000, seed=1) == (difference, low, high)


@pytest.fixture(scope="module")
def scipy_stats():
    return pytest.importorskip("scipy.stats")   # requirements.txt pins it; CI fails on a skip


def test_mcnemar_is_scipys_two_sided_binomial_test(scipy_stats):
    # Every split of 1 to 30 discordant images, and three large ones: McNemar's exact test is
    # the two-sided binomial test of only_a out of only_a + only_b at p = 1/2.
    splits = [(k, n - k) for n in range(1, 31) for k in range(n + 1)] + [(20, 40), (530, 470), (480, 560)]
    for only_a, only_b in splits:
        expected = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
        got = mcnemar_exact(*_pairs(100, only_a, only_b, 7)).p_value
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (only_a, only_b)


def test_bootstrap_interval_is_scipys_paired_percentile_interval(scipy_stats):
    # SciPy resamples the 1,000 pairs of outcomes themselves (paired=True), the textbook
    # bootstrap; paired_bootstrap draws only the counts of the three kinds of image. The two
    # draws differ, so the intervals agree only to Monte Carlo error: with 20,000 resamples
    # each, over 40 pairs of seeds, the ends never differed by more than 1 image (1/n: the
    # differences move in steps of 1/n), at the 95% level as at the 80%. For 95%, the 90%
    # interval's ends sit 5 or 6 images inside, the 97% interval's (a percentile off by one)
    # 2 to 5 images outside: the test allows 1.5 images.
    a, b = _pairs(700, 150, 100, 50)
    n = len(a)
    for level in (0.95, 0.8):
        difference, low, high = paired_bootstrap(a, b, resamples=20_000, seed=3, level=level)
        reference = scipy_stats.bootstrap(
            (a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
            paired=True, vectorized=True, n_resamples=20_000, batch=1_000, method="percentile",
            confidence_level=level, rng=np.random.default_rng(4)).confidence_interval
        assert difference == pytest.approx(0.05)
        assert low == pytest.approx(reference.low, abs=1.5 / n), level
        assert high == pytest.approx(reference.high, abs=1.5 / n), level
