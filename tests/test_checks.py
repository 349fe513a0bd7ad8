"""Checkers accept correct answers (written here as plain loops, independent of
course_utils.ops) and answer wrong ones with a verdict that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import checks


def conv_loops(x, h, s=1):
    H = h.shape[0]
    out = (x.shape[0] - H) // s + 1
    u = np.zeros((out, out))
    for i in range(out):
        for j in range(out):
            u[i, j] = sum(x[s * i + p, s * j + q] * h[p, q] for p in range(H) for q in range(H))
    return u


def conv_multi_loops(x, h, b):
    return np.stack([sum(conv_loops(x[:, :, k], h[:, :, k, m]) for k in range(x.shape[2])) + b[m]
                     for m in range(h.shape[3])], axis=-1)


def pool_loops(x, size, stride=None, reduce=np.max):
    s = stride or size
    out = (x.shape[0] - size) // s + 1
    return np.array([[[reduce(x[s * i:s * i + size, s * j:s * j + size, k]) for k in range(x.shape[2])]
                      for j in range(out)] for i in range(out)])


def endless(*args):
    while True:
        pass


def receptive_field_formula(layers):
    sizes, size, jump = [], 1, 1
    for k, s in layers:
        size, jump = size + (k - 1) * jump, jump * s
        sizes.append(size)
    return sizes


def own_stride_counts(layers):
    sizes, size, jump = [], 1, 1
    for k, s in layers:
        jump *= s                      # updated too early: the layer's own stride counts
        size += (k - 1) * jump
        sizes.append(size)
    return sizes


CORRECT = {
    checks.check_conv2d_single: conv_loops,
    checks.check_conv2d_strided: conv_loops,
    checks.check_conv2d_multi: conv_multi_loops,
    checks.check_output_size: lambda W, H, s=1, P=0: (W + 2 * P - H) // s + 1,
    checks.check_param_count: lambda H, K, M: H * H * K * M + M,
    checks.check_max_pool: lambda x, size, stride=None: pool_loops(x, size, stride, np.max),
    checks.check_avg_pool: lambda x, size, stride=None: pool_loops(x, size, stride, np.mean),
    checks.check_receptive_field: receptive_field_formula,
}


@pytest.mark.parametrize("checker", list(CORRECT), ids=lambda c: c.__name__)
def test_checker_accepts_a_correct_answer(checker):
    result = checker(CORRECT[checker])
    assert result.passed, result.message
    assert str(result).startswith("Passed") and result.cases_passed == result.cases_total >= 5


WRONG = [  # (checker, wrong answer, words the verdict must contain)
    (checks.check_conv2d_single, lambda x, h: conv_loops(x, h[::-1, ::-1]), "flipped"),
    (checks.check_conv2d_single, lambda x, h: conv_loops(x, h)[:-1], "shape"),
    (checks.check_conv2d_single, lambda x, h: conv_loops(x, h) + 1, "values differ"),
    (checks.check_conv2d_strided, lambda x, h, s: conv_loops(x, h), "stride is ignored"),
    (checks.check_conv2d_multi, lambda x, h, b: conv_multi_loops(x, h, 0 * b), "bias b[m] is missing"),
    (checks.check_conv2d_multi, lambda x, h, b: conv_multi_loops(x, h[::-1, ::-1], b), "flipped"),
    (checks.check_conv2d_multi, lambda x, h, b: conv_multi_loops(x, h, b)[..., :1], "shape"),
    (checks.check_output_size, lambda W, H, s=1, P=0: (W + 2 * P - H) // s, "+1 is missing"),
    (checks.check_output_size, lambda W, H, s=1, P=0: (W + P - H) // s + 1, "2P"),
    (checks.check_output_size, lambda W, H, s=1, P=0: W + 2 * P - H + 1, "stride s is ignored"),
    (checks.check_param_count, lambda H, K, M: H * H * K * M, "biases are missing"),
    (checks.check_param_count, lambda H, K, M: (H * H + 1) * K * M, "one bias per filter"),
    (checks.check_param_count, lambda H, K, M: (H * H + 1) * M, "all K input channels"),
    (checks.check_max_pool, lambda x, size, stride=None: pool_loops(x, size, 1), "stride defaults"),
    (checks.check_max_pool, lambda x, size, stride=None: pool_loops(x, size, stride, np.mean), "average"),
    (checks.check_avg_pool, lambda x, size, stride=None: pool_loops(x, size, stride, np.max), "maximum"),
    (checks.check_avg_pool, lambda x, size, stride=None: pool_loops(x, size, 1, np.mean), "stride defaults"),
    (checks.check_receptive_field, lambda layers: list(np.cumsum([k - 1 for k, _ in layers]) + 1),
     "product of the earlier strides"),
    (checks.check_receptive_field, lambda layers: list(np.cumsum([k for k, _ in layers])), "not k"),
    (checks.check_receptive_field, own_stride_counts, "own stride"),
    (checks.check_receptive_field, lambda layers: receptive_field_formula(layers)[:-1], "shape"),
]


@pytest.mark.parametrize("checker, answer, words", WRONG)
def test_checker_names_the_mistake(checker, answer, words):
    result = checker(answer)
    assert not result.passed
    assert result.message.startswith("Not yet") and " case " in result.message
    assert "expected" in result.message and words in result.message, result.message


BROKEN = [  # whatever a student writes, a verdict comes back, never a traceback
    (lambda *a: 1 / 0, "raised ZeroDivisionError"),
    (lambda *a: None, "forget to `return`"),
    (lambda *a: np.full((2, 2), np.nan), "shape"),
    (lambda x, h: conv_loops(x, h) * np.nan, "NaN"),
    (lambda *a: "text", "not numeric"),
    (endless, "endless loop"),
]


@pytest.mark.parametrize("answer, words", BROKEN)
def test_checker_survives_broken_answers(answer, words):
    result = checks.run_checker("single-channel convolution", answer, checks._conv_single,
                                checks._single_channel_cases(False), time_limit=0.5)
    assert not result.passed and words in result.message, result.message


def test_checker_rejects_a_non_function():
    result = checks.check_output_size(26)
    assert not result.passed and "expected a function" in result.message


def test_integer_answer_of_wrong_type():
    result = checks.check_output_size(lambda W, H, s=1, P=0: str((W + 2 * P - H) // s + 1))
    assert not result.passed and "expected the integer 26" in result.message
