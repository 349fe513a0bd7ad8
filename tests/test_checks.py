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
    (checks.check_receptive_field, lambda layers: list(np.cumsum([k for k, _ in layers])), "not H_l"),
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


# --- training and "what it learned" exercises: correct answers pass, typical mistakes are named

def model_params_by_hand(W, H, M1, M2, units):
    side = (W - 2 * (H - 1)) // 2
    return (H * H + 1) * M1 + (H * H * M1 + 1) * M2 + (side * side * M2 + 1) * units + (units + 1) * 10


def best_epoch_loop(loss, val_loss):
    best = 0
    for epoch in range(1, len(val_loss)):
        if val_loss[epoch] < val_loss[best]:
            best = epoch
    return best + 1


def minmax_loop(maps):
    out = np.zeros(maps.shape)
    for n, m in enumerate(maps):
        if m.max() > m.min():
            out[n] = (m - m.min()) / (m.max() - m.min())
    return out


def confusion_loop(y_true, y_pred, num_classes=10):
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(y_true, y_pred):
        matrix[t, p] += 1
    return matrix


def confusion_assigned(y_true, y_pred, num_classes=10):
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    matrix[y_true, y_pred] += 1
    return matrix


CORRECT_MORE = {
    checks.check_model_params: model_params_by_hand,
    checks.check_best_epoch: best_epoch_loop,
    checks.check_minmax: minmax_loop,
    checks.check_confusion_matrix: confusion_loop,
}


@pytest.mark.parametrize("checker", list(CORRECT_MORE), ids=lambda c: c.__name__)
def test_more_checkers_accept_a_correct_answer(checker):
    result = checker(CORRECT_MORE[checker])
    assert result.passed, result.message
    assert result.cases_passed == result.cases_total >= 5


def test_model_params_reference_is_keras():
    """The checker's reference is Keras' own count; the source's sizes give the source's model."""
    assert checks._source_like_model_params(28, 3, 32, 64, 128) == 1_199_882


WRONG_MORE = [  # (checker, wrong answer, words the verdict must contain)
    (checks.check_model_params, lambda W, H, M1, M2, u: model_params_by_hand(W, H, M1, M2, u) - u, "expected"),
    (checks.check_model_params,
     lambda W, H, M1, M2, u: (H * H + 1) * M1 + (H * H * M1 + 1) * M2 + ((W - 2 * H + 2) ** 2 * M2 + 1) * u
     + (u + 1) * 10, "halves the side"),
    (checks.check_model_params,
     lambda W, H, M1, M2, u: (H * H + 1) * M1 + (H * H * M1 + 1) * M2 + ((-(-(W - 2 * H + 2) // 2)) ** 2 * M2 + 1) * u
     + (u + 1) * 10, "round the pooled side down"),
    (checks.check_model_params,
     lambda W, H, M1, M2, u: H * H * M1 + H * H * M1 * M2 + ((W - 2 * H + 2) // 2) ** 2 * M2 * u + u * 10,
     "one bias per output"),
    (checks.check_model_params,
     lambda W, H, M1, M2, u: model_params_by_hand(W, H, M1, M2, u) - (u + 1) * 10, "output layer"),
    (checks.check_model_params,
     lambda W, H, M1, M2, u: model_params_by_hand(W, H, M1, M2, u) - H * H * (M1 - 1) * M2, "all M1 channels"),
    (checks.check_best_epoch, lambda loss, val_loss: best_epoch_loop(loss, val_loss) - 1, "add 1"),
    (checks.check_best_epoch, lambda loss, val_loss: best_epoch_loop(val_loss, loss), "validation loss"),
    (checks.check_best_epoch, lambda loss, val_loss: len(val_loss) - int(np.argmin(val_loss[::-1])), "earliest"),
    (checks.check_best_epoch, lambda loss, val_loss: len(val_loss), "not always the best"),
    (checks.check_minmax, lambda maps: (maps - maps.min()) / (maps.max() - maps.min()), "its own minimum"),
    (checks.check_minmax, lambda maps: np.nan_to_num(maps / maps.max(axis=(1, 2), keepdims=True)),
     "subtract each map's minimum"),
    (checks.check_minmax, lambda maps: (maps - maps.min(axis=(1, 2), keepdims=True))
     / (maps.max(axis=(1, 2), keepdims=True) - maps.min(axis=(1, 2), keepdims=True)), "NaN"),
    (checks.check_confusion_matrix, confusion_assigned, "np.add.at"),
    (checks.check_confusion_matrix, lambda t, p, n=10: confusion_loop(p, t, n), "C[t, p], not C[p, t]"),
    (checks.check_confusion_matrix,
     lambda t, p, n=10: confusion_loop(t, p, n) / np.maximum(confusion_loop(t, p, n).sum(axis=1, keepdims=True), 1),
     "row sums"),
]


@pytest.mark.parametrize("checker, answer, words", WRONG_MORE)
def test_more_checkers_name_the_mistake(checker, answer, words):
    with np.errstate(divide="ignore", invalid="ignore"):
        result = checker(answer)
    assert not result.passed
    assert result.message.startswith("Not yet") and " case " in result.message
    assert words in result.message, result.message


def test_new_exercises_are_registered():
    for label, name, checker in [("ex-model-params", "my_model_params", checks.check_model_params),
                                 ("ex-best-epoch", "my_best_epoch", checks.check_best_epoch),
                                 ("ex-minmax", "my_minmax", checks.check_minmax),
                                 ("ex-confusion", "my_confusion_matrix", checks.check_confusion_matrix)]:
        assert checks.EXERCISES[label] == (name, checker)


# --- "how the network learns" exercises: loops written here, independent of course_utils.backprop

def softmax_ce_grad_loop(u, y):
    grad = np.zeros(u.shape)
    for n in range(len(u)):
        e = np.exp(u[n] - max(u[n]))
        grad[n] = (e / e.sum() - y[n]) / len(u)
    return grad


def max_pool_backward_loop(z, du, size, stride):
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            for k in range(z.shape[2]):
                window = z[stride * i:stride * i + size, stride * j:stride * j + size, k]
                p, q = divmod(int(np.argmax(window)), size)      # first maximum in reading order
                dz[stride * i + p, stride * j + q, k] += du[i, j, k]
    return dz


def filter_gradient_loop(x, du, H, s):
    """With s=1 on a strided layer's du, the typical mistake: pixels side by side, not s apart."""
    N, W_out, M, K = du.shape[0], du.shape[1], du.shape[3], x.shape[3]
    dh = np.zeros((H, H, K, M))
    for p in range(H):
        for q in range(H):
            for k in range(K):
                for m in range(M):
                    for i in range(W_out):
                        for j in range(W_out):
                            dh[p, q, k, m] += np.sum(x[:, s * i + p, s * j + q, k] * du[:, i, j, m])
    return dh


def fit_filter_by_descent(x, u, H, steps, rate):
    """Gradient descent on L = mean((conv(x, h) - u)^2) / 2, with plain loops for the convolution."""
    W_out = u.shape[1]
    h = np.zeros((H, H))
    for _ in range(steps):
        out = sum(x[:, p:p + W_out, q:q + W_out] * h[p, q] for p in range(H) for q in range(H))
        residual = (out - u) / u.size
        h -= rate * np.array([[np.sum(x[:, p:p + W_out, q:q + W_out] * residual) for q in range(H)]
                              for p in range(H)])
    return h


CORRECT_BACKPROP = {
    checks.check_softmax_ce_grad: softmax_ce_grad_loop,
    checks.check_max_pool_backward: max_pool_backward_loop,
    checks.check_filter_gradient: filter_gradient_loop,
    checks.check_fit_filter: fit_filter_by_descent,
    checks.check_conv2d_input_gradient_strided: lambda du, x_shape, h, s, padding: input_gradient_by_pixels(
        du, x_shape, h, s, padding),
    checks.check_avg_pool_backward: lambda z, du, size, s: avg_pool_backward_by_pixels(z, du, size, s),
    checks.check_adadelta_step: lambda v, g, Eg, Ed, lr, rho, eps: adadelta_by_entry(v, g, Eg, Ed, lr, rho, eps),
}


def input_gradient_by_pixels(du, x_shape, h, s, padding):
    """dL/dx entry by entry: every output (i, j) sends du * h[p, q] to padded pixel (s*i + p, s*j + q)."""
    N, W, _, K = x_shape
    H, W_out, M = h.shape[0], du.shape[1], h.shape[3]
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        total = max((W_out - 1) * s + H - W, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = padding
    dx = np.zeros((N, W + before + after, W + before + after, K))
    for n in range(N):
        for i in range(W_out):
            for j in range(W_out):
                for p in range(H):
                    for q in range(H):
                        for k in range(K):
                            dx[n, s * i + p, s * j + q, k] += sum(du[n, i, j, m] * h[p, q, k, m] for m in range(M))
    return dx[:, before:before + W, before:before + W]


def avg_pool_backward_by_pixels(z, du, size, s):
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            for p in range(size):
                for q in range(size):
                    dz[s * i + p, s * j + q] += du[i, j] / size ** 2
    return dz


def adadelta_by_entry(v, g, Eg, Ed, lr, rho, eps):
    """Zeiler (2012), algorithm 1, one weight at a time (Keras' epsilon inside both roots)."""
    out = [np.empty_like(v) for _ in range(3)]
    for a in range(v.size):
        eg = rho * Eg.flat[a] + (1 - rho) * g.flat[a] ** 2
        step = -((Ed.flat[a] + eps) ** 0.5 / (eg + eps) ** 0.5) * g.flat[a]
        out[0].flat[a], out[1].flat[a], out[2].flat[a] = v.flat[a] + lr * step, eg, rho * Ed.flat[a] + (1 - rho) * step ** 2
    return tuple(out)


@pytest.mark.parametrize("checker", list(CORRECT_BACKPROP), ids=lambda c: c.__name__)
def test_backprop_checkers_accept_a_correct_answer(checker):
    result = checker(CORRECT_BACKPROP[checker])
    assert result.passed, result.message
    assert result.cases_passed == result.cases_total >= 5


def spread_evenly(z, du, size, stride):
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            dz[stride * i:stride * i + size, stride * j:stride * j + size] += du[i, j] / size ** 2
    return dz


def every_tie(z, du, size, stride):
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            window = z[stride * i:stride * i + size, stride * j:stride * j + size]
            dz[stride * i:stride * i + size, stride * j:stride * j + size] += (
                (window == window.max(axis=(0, 1))) * du[i, j])
    return dz


def overwritten(z, du, size, stride):
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            part = np.zeros((size, size, z.shape[2]))
            for k in range(z.shape[2]):
                p, q = divmod(int(np.argmax(z[stride * i:stride * i + size, stride * j:stride * j + size, k])), size)
                part[p, q, k] = du[i, j, k]
            dz[stride * i:stride * i + size, stride * j:stride * j + size] = part
    return dz


WRONG_BACKPROP = [  # (checker, wrong answer, words the verdict must contain)
    (checks.check_softmax_ce_grad, lambda u, y: softmax_ce_grad_loop(u, y) * len(u), "divide p - y by N"),
    (checks.check_softmax_ce_grad, lambda u, y: -softmax_ce_grad_loop(u, y), "sign is reversed"),
    (checks.check_softmax_ce_grad, lambda u, y: (np.exp(u - u.max(axis=0)) / np.exp(u - u.max(axis=0)).sum(axis=0) - y) / len(u),
     "axis=-1"),
    (checks.check_softmax_ce_grad, lambda u, y: (np.exp(u) / np.exp(u).sum(axis=1, keepdims=True) - y) / len(u),
     "NaN"),
    (checks.check_softmax_ce_grad, lambda u, y: softmax_ce_grad_loop(u, y) + y / len(u), "p - y"),
    (checks.check_max_pool_backward, spread_evenly, "average pooling"),
    (checks.check_max_pool_backward, lambda z, du, size, s: spread_evenly(z, du, size, s) * size ** 2,
     "only the pixel"),
    (checks.check_max_pool_backward, every_tie, "tie"),
    (checks.check_max_pool_backward, overwritten, "add them (+=)"),
    (checks.check_max_pool_backward, lambda z, du, size, s: max_pool_backward_loop(z, du, size, s)[:-1], "shape"),
    (checks.check_filter_gradient, lambda x, du, H, s: filter_gradient_loop(x, du, H, s)[::-1, ::-1], "flipped"),
    (checks.check_filter_gradient, lambda x, du, H, s: filter_gradient_loop(x[:1], du[:1], H, s), "every image"),
    (checks.check_filter_gradient, lambda x, du, H, s: filter_gradient_loop(x, du, H, s) / len(x),
     "do not average"),
    (checks.check_filter_gradient, lambda x, du, H, s: filter_gradient_loop(x, du, H, 1), "s apart"),
    (checks.check_fit_filter, lambda x, u, H, n, r: fit_filter_by_descent(x[:, ::-1, ::-1], u[:, ::-1, ::-1], H, n,
                                                                           r), "flipped"),
    (checks.check_fit_filter, lambda x, u, H, n, r: np.zeros((H, H)), "never moved"),
    (checks.check_fit_filter, lambda x, u, H, n, r: fit_filter_by_descent(x, u, H, 2000, r), "least-squares minimiser"),
    (checks.check_fit_filter, lambda x, u, H, n, r: fit_filter_by_descent(x, u, H, n + 1, r), "values differ"),
    (checks.check_conv2d_input_gradient_strided, lambda du, xs, h, s, P: input_gradient_by_pixels(du, xs, h, 1, P)
     if s == 1 else np.zeros(xs), "values differ"),
    (checks.check_conv2d_input_gradient_strided,
     lambda du, xs, h, s, P: input_gradient_by_pixels(du, xs, h[::-1, ::-1], s, P), "flipped"),
    (checks.check_avg_pool_backward, lambda z, du, size, s: avg_pool_backward_by_pixels(z, du, size, s) * size ** 2,
     "whole gradient"),
    (checks.check_avg_pool_backward, lambda z, du, size, s: avg_pool_backward_by_pixels(z, du, size, s)[:-1], "shape"),
    (checks.check_adadelta_step, lambda v, g, Eg, Ed, lr, rho, eps: adadelta_by_entry(v, g, Eg, Ed, 1.0, rho, eps),
     "learning rate"),
    (checks.check_adadelta_step, lambda v, g, Eg, Ed, lr, rho, eps: adadelta_by_entry(v, g, Eg, Ed, lr, 0.95, 1e-7),
     "rho and eps"),
]


@pytest.mark.parametrize("checker, answer, words", WRONG_BACKPROP)
def test_backprop_checkers_name_the_mistake(checker, answer, words):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        result = checker(answer)
    assert not result.passed
    assert result.message.startswith("Not yet") and " case " in result.message
    assert words in result.message, result.message


def test_backprop_reference_fits_the_filter_exactly():
    """The fit-filter checker's least-squares reference recovers a known filter."""
    rng = np.random.default_rng(0)
    x, h = rng.normal(size=(3, 9, 9)), rng.normal(size=(3, 3))
    u = sum(x[:, p:p + 7, q:q + 7] * h[p, q] for p in range(3) for q in range(3))
    np.testing.assert_allclose(checks._least_squares_filter(x, u, 3), h, atol=1e-10)


def test_backprop_exercises_are_registered():
    for label, name, checker in [("ex-softmax-ce-grad", "my_softmax_ce_grad", checks.check_softmax_ce_grad),
                                 ("ex-max-pool-backward", "my_max_pool_backward", checks.check_max_pool_backward),
                                 ("ex-filter-gradient", "my_filter_gradient", checks.check_filter_gradient),
                                 ("ex-fit-filter", "my_fit_filter", checks.check_fit_filter),
                                 ("ex-input-gradient-strided", "my_input_gradient_strided",
                                  checks.check_conv2d_input_gradient_strided),
                                 ("ex-avg-pool-backward", "my_avg_pool_backward", checks.check_avg_pool_backward),
                                 ("ex-adadelta-step", "my_adadelta_step", checks.check_adadelta_step)]:
        assert checks.EXERCISES[label] == (name, checker)


def test_instructor_guide_lists_every_checked_exercise():
    """The guide's table of checked exercises is EXERCISES: same labels, functions and checkers."""
    import re

    from conftest import ROOT

    guide = (ROOT / "book" / "appendix" / "instructor_guide.md").read_text()
    rows = re.findall(r"^\| \{ref\}`(ex-[\w-]+)` \| [^|]+ \| `(my_\w+)\([^`]*\)` \| `(check_\w+)` \|$", guide, re.M)
    listed = {label: (function, checker) for label, function, checker in rows}
    registered = {label: (function, check.__name__) for label, (function, check) in checks.EXERCISES.items()}
    assert len(rows) == len(listed), "an exercise is listed twice"
    assert listed == registered


# --- chapters 9 and 10: the window matrix's shape, the one-standard-error rule ----------------

def xcol_shape_by_counting(N, W, K, H, s=1, P=0):
    """Count the windows one by one: every start row and column that fits the padded image."""
    starts = [i for i in range(0, W + 2 * P) if i + H <= W + 2 * P and i % s == 0]
    return N * len(starts) ** 2, H * H * K


def choose_by_sorting(rows):
    """The rule, written from its statement: sort by parameters, take the first within one SE."""
    import statistics

    best = max(rows, key=lambda r: sum(r["val_accuracies"]) / 3)
    floor = sum(best["val_accuracies"]) / 3 - statistics.stdev(best["val_accuracies"]) / 3 ** 0.5
    return next(r["variant"] for r in sorted(rows, key=lambda r: r["parameters"])
                if sum(r["val_accuracies"]) / 3 >= floor)


@pytest.mark.parametrize("checker, answer", [(checks.check_xcol_shape, xcol_shape_by_counting),
                                             (checks.check_one_se_rule, choose_by_sorting)])
def test_chapter_8_and_9_checkers_accept_a_correct_answer(checker, answer):
    result = checker(answer)
    assert result.passed and result.cases_total >= 5, result.message


@pytest.mark.parametrize("checker, answer, words", [
    (checks.check_xcol_shape, lambda *a: xcol_shape_by_counting(*a)[::-1], "swapped"),
    (checks.check_xcol_shape, lambda N, W, K, H, s=1, P=0: xcol_shape_by_counting(N, W, K, H, s, 0), "padding"),
    (checks.check_xcol_shape, lambda N, W, K, H, s=1, P=0: xcol_shape_by_counting(N, W, K, H, 1, P), "stride"),
    (checks.check_xcol_shape, lambda N, W, K, H, s=1, P=0: (xcol_shape_by_counting(N, W, K, H, s, P)[0], H * H),
     "every input channel"),
    (checks.check_one_se_rule, lambda rows: max(rows, key=lambda r: sum(r["val_accuracies"]))["variant"],
     "smallest"),
    (checks.check_one_se_rule, lambda rows: "v0", "expected"),
])
def test_chapter_8_and_9_checkers_name_the_mistake(checker, answer, words):
    result = checker(answer)
    assert not result.passed and words in result.message, result.message


# --- the grader's fresh cases: correct answers still pass, a table of the fixed cases does not ----

ALL_CORRECT = {**CORRECT, **CORRECT_MORE, **CORRECT_BACKPROP, checks.check_xcol_shape: xcol_shape_by_counting,
               checks.check_one_se_rule: choose_by_sorting}


@pytest.mark.parametrize("checker", list(ALL_CORRECT), ids=lambda c: c.__name__)
def test_fresh_cases_still_accept_a_correct_answer(checker):
    for seed in (1, 2**40 + 7, 987654321):
        with checks.fresh_cases(seed):
            result = checker(ALL_CORRECT[checker])
        assert result.passed, (seed, result.message)


def test_fresh_cases_differ_from_the_fixed_ones_and_leave_them_alone_after():
    def args(cases):
        return [np.concatenate([np.ravel(a) for a in case.args[:2]]) for case in cases]

    fixed = args(checks._single_channel_cases(True))
    with checks.fresh_cases(12345):
        fresh = args(checks._single_channel_cases(True))
    assert all(not np.array_equal(a, b) for a, b in zip(fixed, fresh) if a.shape == b.shape)
    assert all(np.array_equal(a, b) for a, b in zip(fixed, args(checks._single_channel_cases(True))))


def test_a_table_of_the_fixed_cases_passes_only_the_fixed_check():
    table = {case.args[0].tobytes() + case.args[1].tobytes(): checks._conv_single(*case.args)
             for case in checks._single_channel_cases(True)}

    def lookup(x, h, s):
        return table[x.tobytes() + h.tobytes()]

    assert checks.check_conv2d_strided(lookup).passed
    with checks.fresh_cases(2024):
        result = checks.check_conv2d_strided(lookup)
    assert not result.passed and "KeyError" in result.message


# --- the checkers whose notebook cases are written out: the grader draws its own -------------

def he_std_by_formula(shape):
    """sqrt(2 / n_in), n_in every input of one unit: all axes but the last (He et al. 2015)."""
    return float(np.sqrt(2 / np.prod(shape[:-1])))


# Each checker's cases as the chapters show them (copied from checks.py before the grader drew
# its own): without a seed they must stay exactly these, or nbval's stored outputs would change.
WRITTEN_OUT = {
    checks.check_output_size: [(28, 3, 1, 0), (26, 3, 1, 0), (28, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 0), (5, 5, 1, 0),
                               (10, 4, 3, 1), (1, 1, 1, 0), (32, 5, 2, 2)],
    checks.check_param_count: [(3, 1, 32), (3, 32, 64), (5, 3, 16), (1, 64, 10), (7, 3, 1)],
    checks.check_receptive_field: [([(3, 1), (3, 1)],), ([(3, 1), (3, 1), (2, 2)],), ([(5, 1)],),
                                   ([(2, 2), (2, 2), (2, 2)],), ([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)],),
                                   ([(3, 2), (3, 2), (3, 2)],), ([(7, 1), (7, 1), (2, 2)],)],
    checks.check_model_params: [(28, 3, 32, 64, 128), (28, 5, 32, 64, 128), (29, 3, 16, 32, 64), (32, 3, 8, 16, 10),
                                (20, 7, 4, 8, 32), (31, 3, 1, 2, 5)],
    checks.check_best_epoch: [([0.30, 0.20, 0.15, 0.12, 0.10], [0.25, 0.18, 0.17, 0.19, 0.21]),
                              ([0.5, 0.4, 0.3], [0.2, 0.3, 0.4]), ([0.9, 0.5, 0.3, 0.2], [0.6, 0.4, 0.4, 0.5]),
                              ([1.0, 0.8, 0.6, 0.5, 0.45, 0.4], [0.9, 0.7, 0.65, 0.64, 0.66, 0.63]),
                              ([0.2, 0.1, 0.05, 0.04], [0.12, 0.08, 0.09, 0.10]),
                              ([0.3, 0.2, 0.1, 0.12], [0.3, 0.25, 0.28, 0.3])],
    checks.check_he_std: [((3, 3, 1, 32),), ((3, 3, 32, 64),), ((9216, 128),), ((128, 10),), ((5, 5, 3, 16),),
                          ((1, 1, 64, 32),), ((7, 7, 2, 8),)],
    checks.check_xcol_shape: [(1, 5, 1, 3, 1, 0), (2, 28, 1, 3, 1, 0), (3, 26, 32, 3, 1, 0), (2, 7, 3, 3, 2, 0),
                              (1, 8, 2, 3, 2, 1), (4, 9, 5, 4, 3, 2), (1, 6, 1, 6, 1, 0)],
}
WRITTEN_OUT_CORRECT = {**CORRECT, **CORRECT_MORE, checks.check_he_std: he_std_by_formula,
                       checks.check_xcol_shape: xcol_shape_by_counting}


def cases_seen(checker, seed=None):
    """The arguments the checker passes, recorded by a correct answer (so that every case runs)."""
    seen = []

    def student(*args):
        seen.append(args)
        return WRITTEN_OUT_CORRECT[checker](*args)

    if seed is None:
        result = checker(student)
    else:
        with checks.fresh_cases(seed):
            result = checker(student)
    assert result.passed, (seed, result.message)
    return seen


@pytest.mark.parametrize("checker", list(WRITTEN_OUT), ids=lambda c: c.__name__)
def test_the_notebook_keeps_its_written_out_cases_and_the_grader_draws_new_ones(checker, monkeypatch):
    # Only the cases matter here: Keras' count (a model built per case) is compared elsewhere.
    monkeypatch.setattr(checks, "_source_like_model_params", model_params_by_hand)
    assert cases_seen(checker) == WRITTEN_OUT[checker]
    first, second = cases_seen(checker, 1), cases_seen(checker, 2**40 + 7)
    assert len(first) == len(second) == len(WRITTEN_OUT[checker])
    assert first != second
    for fresh in (first, second):      # a table of the written-out cases misses most of them
        assert sum(args in WRITTEN_OUT[checker] for args in fresh) <= 1, fresh
    assert cases_seen(checker) == WRITTEN_OUT[checker]     # and the notebook's are back after


WRITTEN_OUT_WRONG = [(checker, answer, words) for checker, answer, words in WRONG + WRONG_MORE
                     if checker in WRITTEN_OUT] + [
    (checks.check_he_std, lambda shape: float(np.sqrt(2 / shape[-2])), "whole window"),
    (checks.check_he_std, lambda shape: float(np.sqrt(1 / np.prod(shape[:-1]))), "ReLU halves"),
    (checks.check_xcol_shape, lambda *a: xcol_shape_by_counting(*a)[::-1], "swapped"),
    (checks.check_xcol_shape, lambda N, W, K, H, s=1, P=0: xcol_shape_by_counting(N, W, K, H, 1, P), "stride"),
]


@pytest.mark.parametrize("checker, answer, words", WRITTEN_OUT_WRONG)
def test_the_graders_drawn_cases_still_name_the_mistake(checker, answer, words):
    for seed in (3, 2**62 + 11):
        with checks.fresh_cases(seed):
            result = checker(answer)
        assert not result.passed and words in result.message, (seed, result.message)


def test_a_table_of_the_written_out_output_sizes_passes_only_the_notebooks_check():
    table = {args: (args[0] + 2 * args[3] - args[1]) // args[2] + 1 for args in WRITTEN_OUT[checks.check_output_size]}

    def lookup(W, H, s=1, P=0):
        return table[W, H, s, P]

    assert checks.check_output_size(lookup).passed
    with checks.fresh_cases(2024):
        result = checks.check_output_size(lookup)
    assert not result.passed and "KeyError" in result.message
