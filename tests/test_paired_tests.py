"""McNemar's exact test and the paired bootstrap, against cases worked out by hand."""

import numpy as np
import pytest

from course_utils.paired_tests import mcnemar_exact, paired_bootstrap


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
