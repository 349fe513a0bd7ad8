"""Checkers for the exercises: run a student's function on several cases and give a verdict.

A checker never raises for a wrong answer. It runs the student's function on each case
(edge cases included) under a time limit, compares the result with the course's reference
(itself proved against Keras in the tests), and returns a :class:`CheckResult` whose text
is one clear verdict: passed, or the first failing case with its inputs, what was
expected and what came back, plus a hint when the answer matches a typical mistake.

The verdicts speak the reader's language, English or Japanese (:mod:`course_utils.i18n`:
``COURSE_LANGUAGE``, the notebook's folder, or the grader's ``using_language``). Every
message a student sees goes through ``_()``; names and hints written as data are marked
with ``N_()`` and translated where the verdict is built.

Examples
--------
>>> check_output_size(lambda W, H, s=1, P=0: (W + 2 * P - H) // s + 1).passed
True
>>> print(check_output_size(lambda W, H, s=1, P=0: (W + 2 * P - H) // s))  # doctest: +ELLIPSIS
Not yet: output size, case 1 of ...
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import threading

import numpy as np

from course_utils import ops
from course_utils.activations import normalise_for_display
from course_utils.i18n import N_, _
from course_utils.confusion import confusion_matrix
from course_utils.time_limit import TimeLimitExceeded, time_limit as alarm_after

TIME_LIMIT_S = 5.0


@dataclasses.dataclass
class CheckResult:
    """The verdict of a checker: ``passed`` and a message for the student."""

    exercise: str       # the exercise's name in English (a stable key, whatever the language)
    passed: bool
    message: str
    cases_passed: int
    cases_total: int

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__

    def __bool__(self) -> bool:
        return self.passed


@dataclasses.dataclass
class Case:
    """One input for the student's function: positional arguments and a short description."""

    args: tuple
    description: str


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return _("an array of shape {shape}, dtype {dtype}").format(shape=value.shape, dtype=value.dtype)
    return repr(value)


def _compare(expected, got, atol: float) -> str | None:
    """None if ``got`` matches ``expected``, else what is wrong, in words."""
    if got is None:
        return _("got None: did the function forget to `return` its result?")
    if isinstance(expected, str):   # got == expected on an array would compare element by element
        return None if isinstance(got, str) and got == expected else _("expected {expected}, got {got}").format(
            expected=repr(expected), got=_describe(got))
    if isinstance(expected, (int, np.integer)):
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer, float, np.floating)):
            return _("expected the integer {expected}, got {got}").format(expected=expected, got=_describe(got))
        return None if got == expected else _("expected {expected}, got {got}").format(expected=expected, got=got)
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return _("expected {expected}, got something that is not numeric: {type}").format(
            expected=_describe(expected), type=type(got).__name__)
    if got.shape != expected.shape:
        return _("expected an array of shape {expected}, got shape {got}").format(
            expected=expected.shape, got=got.shape)
    if np.isnan(got).any():
        return _("the result contains NaN at {index}").format(index=np.argwhere(np.isnan(got))[0].tolist())
    wrong = np.argwhere(~np.isclose(got, expected, atol=atol, rtol=1e-5))
    if len(wrong):
        where = tuple(wrong[0].tolist())
        return _("{count} of {size} values differ; first at index {index}: expected {expected:.6g}, "
                 "got {got:.6g}").format(count=len(wrong), size=got.size, index=where,
                                         expected=expected[where], got=got[where])
    return None


_CALL = threading.local()


def current_time_limit() -> float:
    """The time limit of the call in progress in this thread (the grader's stand-ins for a
    student's function, in course_utils.grading, enforce it themselves)."""
    return getattr(_CALL, "time_limit", TIME_LIMIT_S)


def _call(student, case: Case, time_limit: float):
    """Run the student's function on a deep copy of the case's inputs; returns (result, problem)."""
    args = copy.deepcopy(case.args)
    _CALL.time_limit = time_limit
    try:
        with alarm_after(time_limit):
            return student(*args), None
    except TimeLimitExceeded:
        return None, _("no answer within {limit:g} s (an endless loop?)").format(limit=time_limit)
    except Exception as error:  # the student's bug, reported rather than raised
        return None, _("the function raised {type}: {error}").format(type=type(error).__name__, error=error)


def run_checker(exercise: str, student, reference, cases: list[Case], mistakes=(), atol: float = 1e-6,
                time_limit: float | None = None) -> CheckResult:
    """Run ``student`` and ``reference`` on every case; report the first failure.

    ``exercise`` is the exercise's name in English, marked with ``N_`` where it is written;
    the verdict shows it translated. ``mistakes`` is a sequence of ``(function, hint)``, each
    hint marked with ``N_``: when the student's answers equal ``function``'s answers on
    every case, the hint names the likely error.
    """
    time_limit = TIME_LIMIT_S if time_limit is None else time_limit
    name = _(exercise)
    if not callable(student):
        return CheckResult(exercise, False, _("Not yet: {exercise}: expected a function, got {type}. Pass the "
                                              "function itself, without ().").format(
                               exercise=name, type=type(student).__name__), 0, len(cases))
    for number, case in enumerate(cases, start=1):
        expected = reference(*copy.deepcopy(case.args))  # before the student's code runs
        got, problem = _call(student, case, time_limit)
        if problem is None:
            problem = _compare(expected, got, atol)
            hint = None if problem is None else _hint(student, cases, mistakes, atol, time_limit)
            if hint is not None:
                problem = _("{problem}. Hint: {hint}").format(problem=problem, hint=_(hint))
        if problem is not None:
            message = _("Not yet: {exercise}, case {number} of {total} ({description}): {problem}").format(
                exercise=name, number=number, total=len(cases), description=case.description, problem=problem)
            return CheckResult(exercise, False, message, number - 1, len(cases))
    return CheckResult(exercise, True, _("Passed: {exercise}, all {n} cases.").format(exercise=name, n=len(cases)),
                       len(cases), len(cases))


def _hint(student, cases, mistakes, atol: float, time_limit: float) -> str | None:
    """The hint (untranslated) of the first mistake whose answers equal the student's on every case."""
    answers = [_call(student, case, time_limit) for case in cases]
    for function, hint in mistakes:
        try:
            if all(problem is None and _compare(function(*copy.deepcopy(case.args)), got, atol) is None
                   for case, (got, problem) in zip(cases, answers)):
                return hint
        except Exception:  # a mistake model that does not apply to these cases
            continue
    return None


# The grader's seed for the random cases (None: each checker's fixed seed, as in the notebook).
_CASE_SEED: contextvars.ContextVar[int | None] = contextvars.ContextVar("case_seed", default=None)


@contextlib.contextmanager
def fresh_cases(seed: int):
    """Within the block, every checker draws its cases from ``seed`` mixed with its own fixed
    seed (:func:`_random_cases`; the checkers whose notebook cases are written out draw theirs
    through :func:`_fixed_or_fresh`): the grader passes a fresh seed that no notebook sees, so
    a table of the notebook's cases answers none of them. The student's own in-notebook check
    keeps the fixed cases, so a verdict there is repeatable."""
    token = _CASE_SEED.set(int(seed))
    try:
        yield
    finally:
        _CASE_SEED.reset(token)


def _random_cases(shapes, rng_seed: int, make):
    fresh = _CASE_SEED.get()
    rng = np.random.default_rng(rng_seed if fresh is None else [fresh, rng_seed])
    return [make(rng, *shape) for shape in shapes]


def _fixed_or_fresh(fixed: list[Case], slots, rng_seed: int, make) -> list[Case]:
    """``fixed`` (the cases written out, as the notebook shows them), or under
    :func:`fresh_cases` one case per slot drawn by ``make(rng, slot)``: a checker whose
    cases are listed by hand would otherwise give the grader the notebook's own cases."""
    return fixed if _CASE_SEED.get() is None else _random_cases([(slot,) for slot in slots], rng_seed, make)


# --- convolution ------------------------------------------------------------------------

def _conv_single(x, h, s=1):
    return ops.conv2d(x[:, :, None], h[:, :, None, None], stride=s)[:, :, 0]


def _conv_single_flipped(x, h, s=1):
    return _conv_single(x, h[::-1, ::-1], s)


def _single_channel_cases(strided: bool):
    shapes = [(5, 3, 1), (6, 2, 1), (4, 4, 1), (7, 1, 1), (28, 3, 1)]
    if strided:
        shapes += [(7, 3, 2), (8, 3, 3), (6, 2, 2)]

    def make(rng, W, H, s):
        x, h = rng.normal(size=(W, W)), rng.normal(size=(H, H))
        args = (x, h, s) if strided else (x, h)
        return Case(args, f"x {W}x{W}, h {H}x{H}" + (f", s={s}" if strided else ""))

    return _random_cases(shapes, 1, make)


def check_conv2d_single(student) -> CheckResult:
    """Exercise: ``conv(x, h)`` for one W x W image and one H x H filter, stride 1, no padding."""
    return run_checker(N_("single-channel convolution"), student, _conv_single, _single_channel_cases(False),
                       mistakes=[(_conv_single_flipped, N_("your filter is flipped (true convolution); "
                                  "Keras and this course compute the cross-correlation"))])


def check_conv2d_strided(student) -> CheckResult:
    """Exercise: ``conv(x, h, s)`` with stride s, no padding."""
    return run_checker(N_("strided convolution"), student, _conv_single, _single_channel_cases(True),
                       mistakes=[(lambda x, h, s: _conv_single(x, h, 1), N_("the stride is ignored")),
                                 (_conv_single_flipped, N_("your filter is flipped"))])


def _conv_multi(x, h, b):
    return ops.conv2d(x, h, b)


def check_conv2d_multi(student) -> CheckResult:
    """Exercise: ``conv(x, h, b)``: x (W, W, K), h (H, H, K, M), b (M,) -> (W', W', M)."""
    def make(rng, W, H, K, M):
        return Case((rng.normal(size=(W, W, K)), rng.normal(size=(H, H, K, M)), rng.normal(size=M)),
                    f"x {W}x{W}x{K}, h {H}x{H}x{K}x{M}, b ({M},)")

    cases = _random_cases([(5, 3, 1, 1), (5, 3, 3, 2), (6, 2, 2, 4), (4, 4, 3, 1), (7, 1, 3, 5)], 2, make)
    mistakes = [
        (lambda x, h, b: ops.conv2d(x, h), N_("the bias b[m] is missing")),
        (lambda x, h, b: ops.conv2d(x, h[::-1, ::-1], b), N_("your filter is flipped")),
        (lambda x, h, b: ops.conv2d(x, h) + b.sum(), N_("every filter got the sum of all biases")),
    ]
    return run_checker(N_("multi-channel convolution"), student, _conv_multi, cases, mistakes)


# --- sizes and parameters ---------------------------------------------------------------

def _output_size(W, H, s=1, P=0):
    return ops.output_size(W, H, s, P)


def _output_size_case(W, H, s, P):
    return Case((int(W), int(H), int(s), int(P)), "W={}, H={}, s={}, P={}".format(W, H, s, P))


# The fixed grid's kinds: (s, P, the remainder (W + 2P - H) mod s, W' or None for any):
# a rounded-up W' shows only where the remainder is not 0; W' = 1 is an edge.
_OUTPUT_SIZE_SLOTS = [(1, 0, 0, None), (1, 0, 0, None), (1, 1, 0, None), (2, 0, 0, None), (2, 0, 1, None),
                      (1, 0, 0, 1), (3, 1, 2, None), (2, 0, 1, 1), (2, 2, 1, None)]


def _draw_output_size(rng, slot):
    s, P, remainder, W_out = slot
    H = 2 * P + int(rng.integers(1, 8))                   # at least 2P + 1, so that W >= 1
    W_out = int(rng.integers(2, 25)) if W_out is None else W_out
    return _output_size_case((W_out - 1) * s + H - 2 * P + remainder, H, s, P)


def check_output_size(student) -> CheckResult:
    """Exercise: ``output_size(W, H, s=1, P=0)`` returns the integer W'."""
    grid = [(28, 3, 1, 0), (26, 3, 1, 0), (28, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 0), (5, 5, 1, 0),
            (10, 4, 3, 1), (1, 1, 1, 0), (32, 5, 2, 2)]
    cases = _fixed_or_fresh([_output_size_case(*args) for args in grid], _OUTPUT_SIZE_SLOTS, 20,
                            _draw_output_size)
    mistakes = [
        (lambda W, H, s=1, P=0: (W + 2 * P - H) // s, N_("the +1 is missing (the first position counts too)")),
        (lambda W, H, s=1, P=0: (W + P - H) // s + 1, N_("the padding P is added on both sides: 2P")),
        (lambda W, H, s=1, P=0: -(-(W + 2 * P - H) // s) + 1, N_("round down (floor), not up")),
        (lambda W, H, s=1, P=0: W + 2 * P - H + 1, N_("the stride s is ignored")),
    ]
    return run_checker(N_("output size"), student, _output_size, cases, mistakes)


def _param_count(H, K, M):
    return (H * H * K + 1) * M


def check_param_count(student) -> CheckResult:
    """Exercise: ``param_count(H, K, M)`` of a Conv2D layer with bias."""
    grid = [(3, 1, 32), (3, 32, 64), (5, 3, 16), (1, 64, 10), (7, 3, 1)]

    def make(rng, one_channel):
        H, K, M = rng.integers(1, 8), 1 if one_channel else rng.integers(2, 129), rng.integers(1, 129)
        return case(H, K, M)

    def case(H, K, M):
        return Case((int(H), int(K), int(M)), "H={}, K={}, M={}".format(H, K, M))

    cases = _fixed_or_fresh([case(*args) for args in grid], [True, False, False, False, False], 21, make)
    mistakes = [
        (lambda H, K, M: H * H * K * M, N_("the M biases are missing")),
        (lambda H, K, M: (H * H + 1) * K * M, N_("there is one bias per filter, not per channel")),
        (lambda H, K, M: (H * H + 1) * M, N_("each filter spans all K input channels")),
    ]
    return run_checker(N_("parameter count"), student, _param_count, cases, mistakes)


# --- pooling ----------------------------------------------------------------------------

def _pool_cases():
    def make(rng, W, K, size, stride):
        return Case((rng.normal(size=(W, W, K)), size, stride),
                    f"x {W}x{W}x{K}, size={size}, stride={stride}")

    return _random_cases([(4, 1, 2, None), (6, 3, 2, None), (5, 2, 2, None), (7, 1, 3, 2),
                          (6, 2, 3, None), (5, 1, 1, None)], 3, make)


def _pool_mistakes(reference):
    return [
        (lambda x, size, stride: reference(x, size, 1), N_("the stride defaults to the window size, not 1")),
        (lambda x, size, stride: reference(x, size, stride or size).transpose(1, 0, 2),
         N_("rows and columns are swapped")),
    ]


def check_max_pool(student) -> CheckResult:
    """Exercise: ``max_pool(x, size, stride=None)`` for x of shape (W, W, K)."""
    return run_checker(N_("max pooling"), student, ops.max_pool2d, _pool_cases(),
                       _pool_mistakes(ops.max_pool2d) + [
                           (lambda x, size, stride: ops.avg_pool2d(x, size, stride), N_("that is the average"))])


def check_avg_pool(student) -> CheckResult:
    """Exercise: ``avg_pool(x, size, stride=None)`` for x of shape (W, W, K)."""
    return run_checker(N_("average pooling"), student, ops.avg_pool2d, _pool_cases(),
                       _pool_mistakes(ops.avg_pool2d) + [
                           (lambda x, size, stride: ops.max_pool2d(x, size, stride), N_("that is the maximum"))])


# --- backward pass ----------------------------------------------------------------------

def _input_gradient_tf(du, x_shape, h):
    """dL/dx of L = sum(conv2d(x, h) * du), by TensorFlow's automatic differentiation."""
    import tensorflow as tf

    x = tf.Variable(tf.zeros(x_shape, dtype=tf.float64))
    with tf.GradientTape() as tape:
        u = tf.nn.conv2d(x, tf.constant(h, dtype=tf.float64), strides=1, padding="VALID")
        loss = tf.reduce_sum(u * tf.constant(du, dtype=tf.float64))
    return tape.gradient(loss, x).numpy()


def check_conv2d_input_gradient(student) -> CheckResult:
    """Exercise: ``input_gradient(du, x_shape, h)`` = dL/dx for stride 1, no padding,
    compared with ``tf.GradientTape``."""
    def make(rng, N, W, K, H, M):
        W_out = W - H + 1
        return Case((rng.normal(size=(N, W_out, W_out, M)), (N, W, W, K), rng.normal(size=(H, H, K, M))),
                    f"x {N}x{W}x{W}x{K}, h {H}x{H}x{K}x{M}")

    cases = _random_cases([(1, 4, 1, 2, 1), (2, 5, 3, 3, 2), (1, 6, 2, 3, 4), (2, 3, 1, 3, 2)], 4, make)

    def assigned_not_added(du, x_shape, h):
        H, M, W_out = h.shape[0], h.shape[3], du.shape[1]
        rows = (du.reshape(-1, M) @ h.reshape(-1, M).T).reshape(*du.shape[:3], H, H, x_shape[3])
        dx = np.zeros(x_shape)
        for p in range(H):
            for q in range(H):
                dx[:, p:p + W_out, q:q + W_out, :] = rows[:, :, :, p, q, :]
        return dx

    mistakes = [
        (assigned_not_added, N_("overlapping windows must add (+=) their gradients, not overwrite them")),
        (lambda du, x_shape, h: _input_gradient_tf(du, x_shape, h[::-1, ::-1]), N_("your filter is flipped")),
    ]
    return run_checker(N_("input gradient (col2im)"), student, _input_gradient_tf, cases, mistakes, atol=1e-8,
                       time_limit=30)


# --- receptive fields -------------------------------------------------------------------

def _receptive_field_by_tracing(layers):
    """Receptive field sizes found by tracing unit 0 of each layer back to the input.

    Deliberately not the closed formula: unit ``i`` of a layer with kernel ``H_l`` (``k`` in
    the code) and stride ``s`` reads units ``i*s .. i*s+k-1`` of the layer below; follow that
    down to the image.
    """
    sizes = []
    for top in range(len(layers)):
        low, high = 0, 0                       # the span of units reached, in layer ``top``
        for k, s in reversed(layers[:top + 1]):
            low, high = low * s, high * s + k - 1
        sizes.append(high - low + 1)
    return np.array(sizes)


def check_receptive_field(student) -> CheckResult:
    """Exercise: ``receptive_field(layers)``, layers a list of (kernel, stride) pairs, returns
    the receptive field size of every layer, in input pixels."""
    stacks = [[(3, 1), (3, 1)], [(3, 1), (3, 1), (2, 2)], [(5, 1)], [(2, 2), (2, 2), (2, 2)],
              [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)], [(3, 2), (3, 2), (3, 2)], [(7, 1), (7, 1), (2, 2)]]

    def make(rng, depth):
        stack = [(int(rng.integers(1, 8)), int(rng.choice([1, 1, 2, 3]))) for _layer in range(depth)]
        return Case((stack,), f"layers={stack}")

    cases = _fixed_or_fresh([Case((stack,), f"layers={stack}") for stack in stacks],
                            [len(stack) for stack in stacks], 22, make)
    mistakes = [
        (lambda layers: np.cumsum([k - 1 for k, s in layers]) + 1,
         N_("after a stride, one step of a layer spans several input pixels: multiply (H_l - 1) by the product "
            "of the earlier strides")),
        (lambda layers: np.cumsum([k for k, s in layers]),
         N_("neighbouring positions overlap: each layer adds H_l - 1 pixels, not H_l")),
        (lambda layers: 1 + np.cumsum([(k - 1) * int(np.prod([s for _k, s in layers[:i + 1]]))
                                       for i, (k, _s) in enumerate(layers)]),
         N_("a layer's own stride does not widen its own field; only the strides before it count")),
    ]
    return run_checker(N_("receptive field"), student, _receptive_field_by_tracing, cases, mistakes)


# --- training: a modified model's size, the best epoch ----------------------------------

def _source_like_model_params(W, H, M1, M2, units):
    """Parameters of the source's stack with other sizes, counted by Keras itself."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input(shape=(W, W, 1)), layers.Conv2D(M1, H), layers.Conv2D(M2, H),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(units), layers.Dense(10)])
    return int(model.count_params())


def _params_by_formula(W, H, M1, M2, units, pooled=None, biases=True, conv2_channels=None, output=True):
    """The count by formula, with switches that reproduce the typical mistakes."""
    b = 1 if biases else 0
    side = W - 2 * (H - 1)
    pooled = side // 2 if pooled is None else pooled(side)
    K2 = M1 if conv2_channels is None else conv2_channels
    count = (H * H + b) * M1 + (H * H * K2 + b) * M2 + (pooled * pooled * M2 + b) * units
    return count + ((units + b) * 10 if output else 0)


def check_model_params(student) -> CheckResult:
    """Exercise: ``model_params(W, H, M1, M2, units)``, the parameter count of the source's
    stack (conv M1, conv M2, 2x2 max pool, dense units, dense 10) on W x W x 1 images with
    H x H filters, compared with Keras' ``count_params()``."""
    grid = [(28, 3, 32, 64, 128), (28, 5, 32, 64, 128), (29, 3, 16, 32, 64), (32, 3, 8, 16, 10),
            (20, 7, 4, 8, 32), (31, 3, 1, 2, 5)]

    def case(*args):
        return Case(tuple(int(a) for a in args), "W={}, H={}, M1={}, M2={}, units={}".format(*args))

    def make(rng, odd_side):      # an odd side before pooling shows the rounding
        H, side = int(rng.integers(1, 8)), 2 * int(rng.integers(1, 13)) + odd_side
        return case(side + 2 * (H - 1), H, rng.integers(1, 65), rng.integers(1, 65), rng.integers(1, 129))

    cases = _fixed_or_fresh([case(*args) for args in grid], [0, 0, 1, 0, 0, 1], 23, make)
    mistakes = [
        (lambda *a: _params_by_formula(*a, pooled=lambda side: side),
         N_("the 2x2 pooling halves the side before Flatten: Dense(units) sees (W'/2)^2 * M2 values")),
        (lambda *a: _params_by_formula(*a, pooled=lambda side: -(-side // 2)),
         N_("MaxPooling2D drops an odd last row and column (padding='valid'): round the pooled side down")),
        (lambda *a: _params_by_formula(*a, biases=False),
         N_("every Conv2D and Dense layer also has one bias per output")),
        (lambda *a: _params_by_formula(*a, conv2_channels=1),
         N_("each conv2 filter spans all M1 channels of conv1's output: H*H*M1 weights per filter")),
        (lambda *a: _params_by_formula(*a, output=False), N_("the output layer Dense(10) has parameters too")),
    ]
    return run_checker(N_("parameter count of a modified model"), student, _source_like_model_params, cases,
                       mistakes)


def _best_epoch(loss, val_loss):
    val_loss = list(val_loss)
    return val_loss.index(min(val_loss)) + 1


def _draw_history(rng, kind, training_falls=True):
    """A history of 3 to 10 epochs: distinct losses (to the thousandth), the training loss
    falling (or lowest before the last epoch), the lowest validation loss where ``kind``
    says ("first", "last", "inside", or a "tie" of two epochs)."""
    n = int(rng.integers(3, 11))
    loss = np.sort(rng.choice(np.arange(10, 1000), n, replace=False))[::-1] / 1000
    if not training_falls:
        early = int(rng.integers(0, n - 1))
        loss[[early, n - 1]] = loss[[n - 1, early]]
    val_loss = rng.choice(np.arange(50, 1000), n, replace=False) / 1000
    if kind in ("first", "last"):
        best = 0 if kind == "first" else n - 1
    else:                         # a tie needs a later epoch; "inside" is neither the first nor the last
        best = int(rng.integers(1 if kind == "inside" else 0, n - 1))
    low = int(np.argmin(val_loss))
    val_loss[[best, low]] = val_loss[[low, best]]
    # The words never say which epoch is best: the feedback page shows a drawn case's
    # description in full and hides only expected values.
    if kind == "tie":
        val_loss[int(rng.integers(best + 1, n))] = val_loss[best]
        words = _("{n} epochs, two epochs tie for the lowest validation loss").format(n=n)
    elif training_falls:
        words = _("{n} epochs, the training loss falling").format(n=n)
    else:
        words = _("{n} epochs, the training loss lowest before the last epoch").format(n=n)
    return Case(([float(v) for v in loss], [float(v) for v in val_loss]), words)


def check_best_epoch(student) -> CheckResult:
    """Exercise: ``best_epoch(loss, val_loss)``, from a history's per-epoch training and
    validation losses: the epoch (counted from 1) with the lowest validation loss, the
    earliest one if several tie. (Two lists, not the history dict: the grader passes
    plain numbers and lists only.)"""
    histories = [
        ([0.30, 0.20, 0.15, 0.12, 0.10], [0.25, 0.18, 0.17, 0.19, 0.21], N_("validation loss lowest at epoch 3")),
        ([0.5, 0.4, 0.3], [0.2, 0.3, 0.4], N_("lowest at the first epoch")),
        ([0.9, 0.5, 0.3, 0.2], [0.6, 0.4, 0.4, 0.5], N_("a tie at epochs 2 and 3")),
        ([1.0, 0.8, 0.6, 0.5, 0.45, 0.4], [0.9, 0.7, 0.65, 0.64, 0.66, 0.63], N_("lowest at the last epoch")),
        ([0.2, 0.1, 0.05, 0.04], [0.12, 0.08, 0.09, 0.10], N_("training loss lowest at the last epoch")),
        ([0.3, 0.2, 0.1, 0.12], [0.3, 0.25, 0.28, 0.3], N_("training loss lowest at epoch 3 of 4")),
    ]
    cases = _fixed_or_fresh([Case((loss, val_loss), _(words)) for loss, val_loss, words in histories],
                            [("inside",), ("first",), ("tie",), ("last",), ("inside",), ("inside", False)], 24,
                            lambda rng, slot: _draw_history(rng, *slot))
    mistakes = [
        (lambda loss, val_loss: int(np.argmin(val_loss)),
         N_("Keras numbers epochs from 1 (Epoch 1/20), a Python index from 0: add 1")),
        (lambda loss, val_loss: int(np.argmin(loss)) + 1,
         N_("the training loss keeps falling; choose by the validation loss")),
        (lambda loss, val_loss: len(val_loss) - list(val_loss)[::-1].index(min(val_loss)),
         N_("among equal losses take the earliest epoch: the same result with less training")),
        (lambda loss, val_loss: len(val_loss), N_("the last epoch is not always the best one")),
    ]
    return run_checker(N_("best epoch"), student, _best_epoch, cases, mistakes)


# --- what it learned: scaling maps for display, the confusion matrix ----------------------

def check_minmax(student) -> CheckResult:
    """Exercise: ``minmax(maps)`` scales each map of ``maps`` (n, H, W) to [0, 1] by its own
    minimum and maximum; a constant map becomes all zeros."""
    def make(rng, n, side, kind):
        maps = rng.normal(size=(n, side, side))
        if kind == "relu":
            maps = np.maximum(maps, 0) * rng.uniform(0.5, 5, size=(n, 1, 1))
        if kind == "dead":
            maps[1] = 0.0
        if kind == "constant":
            maps[0] = 2.5
        words = {"plain": N_("maps with negative values"), "relu": N_("ReLU maps of different sizes of values"),
                 "dead": N_("map 1 is all zeros (a dead channel)"), "constant": N_("map 0 is constant (all 2.5)")}
        return Case((maps,), _("{n} maps of {side}x{side}, {kind}").format(n=n, side=side, kind=_(words[kind])))

    cases = _random_cases([(1, 4, "plain"), (3, 5, "relu"), (4, 6, "plain"), (3, 4, "dead"),
                           (2, 3, "constant")], 5, make)

    def global_scaling(maps):
        return (maps - maps.min()) / (maps.max() - maps.min())

    mistakes = [
        (global_scaling, N_("scale each map by its own minimum and maximum (axis=(1, 2), keepdims=True), "
                            "not by those of all maps together")),
        (lambda maps: np.divide(maps, maps.max(axis=(1, 2), keepdims=True), out=np.zeros(maps.shape),
                                where=maps.max(axis=(1, 2), keepdims=True) != 0),
         N_("subtract each map's minimum first: maps with negative values do not start at 0")),
    ]
    return run_checker(N_("min-max scaling"), student, normalise_for_display, cases, mistakes)


def check_confusion_matrix(student) -> CheckResult:
    """Exercise: ``confusion_matrix(y_true, y_pred, num_classes=10)`` counts C[t, p], the
    images of true class t predicted as p."""
    def make(rng, n, classes, spread):
        y_true = rng.integers(0, classes, size=n)
        y_pred = np.where(rng.random(n) < spread, rng.integers(0, classes, size=n), y_true)
        return Case((y_true, y_pred, classes), _("{n} labels, {classes} classes").format(n=n, classes=classes))

    cases = [Case((np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), 3), _("4 labels, 3 classes, one mistake"))]
    cases += _random_cases([(20, 3, 0.5), (200, 10, 0.2), (50, 4, 0.9)], 6, make)
    cases.append(Case((np.array([3, 3, 3]), np.array([1, 1, 1]), 5), _("3 labels, 5 classes, classes 0, 2, 4 absent")))

    def assigned_not_counted(y_true, y_pred, num_classes=10):
        matrix = np.zeros((num_classes, num_classes), dtype=int)
        matrix[y_true, y_pred] += 1
        return matrix

    mistakes = [
        (assigned_not_counted, N_("matrix[y_true, y_pred] += 1 adds 1 once per distinct (t, p) pair, however often "
                                  "it occurs; count with np.add.at(matrix, (y_true, y_pred), 1) or a loop")),
        (lambda y_true, y_pred, num_classes=10: confusion_matrix(y_pred, y_true, num_classes),
         N_("rows are the true labels, columns the predictions: C[t, p], not C[p, t]")),
        (lambda y_true, y_pred, num_classes=10: confusion_matrix(y_true, y_pred, num_classes)
         / np.maximum(confusion_matrix(y_true, y_pred, num_classes).sum(axis=1, keepdims=True), 1),
         N_("count images, do not divide by the row sums")),
    ]
    return run_checker(N_("confusion matrix"), student, confusion_matrix, cases, mistakes)


# --- how the network learns: gradients of the loss, of pooling and of the filters ----------

def _softmax_ce_grad(u, y):
    from course_utils import backprop

    return backprop.softmax_cross_entropy_grad(backprop.softmax(u), y)


def _softmax_along(u, axis):
    e = np.exp(u - u.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_softmax_ce_grad(student) -> CheckResult:
    """Exercise: ``softmax_ce_grad(u, y)``, dL/du of the batch-mean cross-entropy of
    softmax(u) for logits u (N, classes) and one-hot targets y, compared with
    ``backprop.softmax_cross_entropy_grad`` (proved against Keras' loss in the tests)."""
    def make(rng, N, classes, scale):
        words = (_("N={N}, {classes} classes, large logits (exp(u) overflows unless the largest logit is "
                   "subtracted first)") if scale > 100 else _("N={N}, {classes} classes"))
        return Case((rng.normal(scale=scale, size=(N, classes)), np.eye(classes)[rng.integers(0, classes, N)]),
                    words.format(N=N, classes=classes))

    cases = _random_cases([(1, 10, 1), (4, 10, 3), (32, 10, 2), (5, 3, 1), (3, 10, 500)], 7, make)
    mistakes = [
        (lambda u, y: _softmax_ce_grad(u, y) * len(u),
         N_("the loss is the mean over the batch: divide p - y by N")),
        (lambda u, y: -_softmax_ce_grad(u, y), N_("the sign is reversed: the gradient is p - y, not y - p")),
        (lambda u, y: _softmax_along(u, axis=0) - y,
         N_("the softmax normalises each image's row (axis=-1), not each column")),
        (lambda u, y: (_softmax_along(u, axis=0) - y) / len(u),
         N_("the softmax normalises each image's row (axis=-1), not each column")),
        (lambda u, y: _softmax_ce_grad(u, y) + y / len(u), N_("subtract the target: p - y")),
    ]
    return run_checker(N_("softmax cross-entropy gradient"), student, _softmax_ce_grad, cases, mistakes, atol=1e-9)


def _max_pool_backward(z, du, size, stride):
    from course_utils import backprop

    return backprop.max_pool2d_backward(z, du, size, stride)


def _pool_backward_by_window(z, du, size, stride, share, add=True):
    """Loop over the windows; ``share(window, gradient)`` is what the window's pixels get.
    The typical mistakes are variants of this loop."""
    dz = np.zeros(z.shape)
    for i in range(du.shape[0]):
        for j in range(du.shape[1]):
            rows, cols = slice(stride * i, stride * i + size), slice(stride * j, stride * j + size)
            part = share(z[rows, cols], du[i, j])
            dz[rows, cols] = dz[rows, cols] + part if add else part
    return dz


def _first_maximum(window, gradient):
    size, K = window.shape[0], window.shape[2]
    p, q = np.divmod(window.reshape(size * size, K).argmax(axis=0), size)
    part = np.zeros(window.shape)
    part[p, q, np.arange(K)] = gradient
    return part


def check_max_pool_backward(student) -> CheckResult:
    """Exercise: ``max_pool_backward(z, du, size, stride)``: dL/dz of ``max_pool2d(z, size,
    stride)`` for z (W, W, K) and du (W', W', K), overlapping windows included, compared with
    ``backprop.max_pool2d_backward`` (proved against tf.GradientTape)."""
    def make(rng, W, K, size, stride, relu):
        z = rng.normal(size=(W, W, K))
        if relu:
            z = np.maximum(z, 0)
        W_out = (W - size) // stride + 1
        case = f"z {W}x{W}x{K}, size={size}, stride={stride}"
        return Case((z, rng.normal(size=(W_out, W_out, K)), size, stride),
                    _("{case}, after a ReLU (windows of tied zeros)").format(case=case) if relu else case)

    cases = _random_cases([(4, 1, 2, 2, False), (6, 3, 2, 2, False), (5, 2, 2, 2, False), (7, 2, 3, 2, False),
                           (6, 4, 2, 2, True), (6, 2, 3, 1, False), (9, 1, 3, 3, False)], 8, make)
    mistakes = [
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride, lambda w, g: _first_maximum(w, g),
                                                              add=False),
         N_("where windows overlap (stride < size), a pixel collects the gradients of every window it won: "
            "add them (+=), do not overwrite")),
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride,
                                                              lambda w, g: np.ones(w.shape) * g / size ** 2),
         N_("that spreads each gradient evenly (average pooling); max pooling sends it all to the window's maximum")),
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride, lambda w, g: np.ones(w.shape) * g),
         N_("every pixel of the window got the gradient; only the pixel that won the window should")),
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride,
                                                              lambda w, g: (w == w.max(axis=(0, 1))) * g),
         N_("when several pixels tie for the maximum, only the first (in reading order) gets the gradient, "
            "as in TensorFlow: use argmax")),
    ]
    return run_checker(N_("max-pool backward"), student, _max_pool_backward, cases, mistakes)


def _filter_gradient(x, du, H, s):
    from course_utils import backprop

    return backprop.conv2d_filter_gradient(x, du, H, stride=s)


def _filter_gradient_no_step(x, du, H, s):
    """The typical stride mistake: the pixels read side by side instead of s apart."""
    W_out = du.shape[1]
    dh = np.zeros((H, H, x.shape[3], du.shape[3]))
    for p in range(H):
        for q in range(H):
            dh[p, q] = np.tensordot(x[:, p:p + W_out, q:q + W_out], du, axes=([0, 1, 2], [0, 1, 2]))
    return dh


def check_filter_gradient(student) -> CheckResult:
    """Exercise: ``filter_gradient(x, du, H, s)``: dL/dh (H, H, K, M) of ``conv2d(x, h, stride=s)``
    (no padding) for x (N, W, W, K) and du (N, W', W', M), compared with
    ``backprop.conv2d_filter_gradient`` (proved against tf.GradientTape)."""
    def make(rng, N, W, K, H, M, s):
        W_out = (W - H) // s + 1
        return Case((rng.normal(size=(N, W, W, K)), rng.normal(size=(N, W_out, W_out, M)), H, s),
                    f"x {N}x{W}x{W}x{K}, du {N}x{W_out}x{W_out}x{M}, H={H}, s={s}")

    cases = _random_cases([(1, 4, 1, 2, 1, 1), (2, 5, 1, 3, 2, 1), (3, 7, 2, 3, 4, 2), (2, 9, 3, 2, 3, 3),
                           (1, 8, 2, 3, 2, 2), (2, 6, 1, 3, 2, 3)], 9, make)
    mistakes = [
        (lambda x, du, H, s: _filter_gradient(x, du, H, s)[::-1, ::-1],
         N_("your gradient is flipped: dh[p, q] collects x[s*i + p, s*j + q] * du[i, j]")),
        (lambda x, du, H, s: _filter_gradient(x[:1], du[:1], H, s),
         N_("only the first image counts: sum over every image of the batch")),
        (lambda x, du, H, s: _filter_gradient(x, du, H, s) / len(x),
         N_("sum over the batch; do not average (any 1/N is already inside du)")),
        (_filter_gradient_no_step,
         N_("with stride s the pixels that h[p, q] multiplied are s apart: x[:, p : p + s*W' : s]")),
    ]
    return run_checker(N_("filter gradient"), student, _filter_gradient, cases, mistakes)


def _least_squares_filter(x, u, H):
    """The H x H filter that maps images x (N, W, W) to outputs u (N, W', W'), by least squares."""
    rows = ops.im2col(x[..., np.newaxis], H).T                      # one window per row
    h, *_rest = np.linalg.lstsq(rows, u.reshape(-1), rcond=None)
    return h.reshape(H, H)


def _descend_filter(x, u, H, steps, learning_rate):
    """``steps`` steps of gradient descent from h = 0 on L = mean((conv(x, h) - u)^2) / 2."""
    from course_utils import backprop

    x4, u4, h = x[..., np.newaxis], u[..., np.newaxis], np.zeros((H, H, 1, 1))
    for _step in range(steps):
        residual = ops.conv2d(x4, h) - u4
        h = h - learning_rate * backprop.conv2d_filter_gradient(x4, residual / residual.size, H)
    return h[:, :, 0, 0]


def check_fit_filter(student) -> CheckResult:
    """Exercise: ``fit_filter(x, u, H, steps, learning_rate)``: the H x H filter after exactly
    ``steps`` steps of gradient descent from zero on L = mean((conv2d(x, h) - u)^2) / 2, for
    images x (N, W, W) and outputs u = conv2d(x, h_secret) (N, W', W'). Compared after 1, 3, 10
    and 400 steps, so that a direct least-squares solve, which lands on the minimiser at once,
    does not pass: the exercise is about the gradient."""
    edge = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])

    def make(rng, N, W, H, name, steps):
        x = rng.normal(size=(N, W, W))
        h = edge if name == "edge" else rng.normal(size=(H, H))
        u = ops.conv2d(x[..., None], h[:, :, None, None])[..., 0]
        rate = 1 / (H * H * np.mean(x ** 2))
        words = (_("{N} images {W}x{W}, the vertical-edge filter, {steps} steps") if name == "edge"
                 else _("{N} images {W}x{W}, a random {H}x{H} filter, {steps} steps"))
        return Case((x, u, H, steps, rate), words.format(N=N, W=W, H=H, steps=steps))

    cases = _random_cases([(4, 8, 3, "edge", 400), (3, 10, 2, "random", 1), (4, 9, 3, "random", 3),
                           (2, 12, 4, "random", 10), (6, 6, 1, "random", 400), (4, 8, 3, "edge", 2)], 10, make)
    mistakes = [
        (lambda x, u, H, steps, rate: _least_squares_filter(x, u, H),
         N_("that is the least-squares minimiser itself, whatever the number of steps: take exactly `steps` "
            "steps of gradient descent from zero and return where they end")),
        (lambda x, u, H, steps, rate: _flipped_descent(x, u, H, steps, rate),
         N_("the filter is flipped: Keras' conv2d (and the outputs u) use the cross-correlation")),
        (lambda x, u, H, steps, rate: np.zeros((H, H)),
         N_("the filter never moved from zero: check the update and the step size")),
    ]
    return run_checker(N_("fitting a filter by gradient descent"), student, _descend_filter, cases, mistakes,
                       atol=1e-6, time_limit=20)


def _flipped_descent(x, u, H, steps, rate):
    """Gradient descent on the true convolution (the filter read backwards): its result, turned."""
    return _descend_filter(x, u, H, steps, rate)[::-1, ::-1]


def _input_gradient_strided_tf(du, x_shape, h, stride, padding):
    """dL/dx of L = sum(conv2d(x, h, stride, padding) * du), by TensorFlow's automatic differentiation."""
    import tensorflow as tf

    pad = padding.upper() if isinstance(padding, str) else [[0, 0], [padding] * 2, [padding] * 2, [0, 0]]
    x = tf.Variable(tf.zeros(x_shape, dtype=tf.float64))
    with tf.GradientTape() as tape:
        u = tf.nn.conv2d(x, tf.constant(h, dtype=tf.float64), strides=stride, padding=pad)
        loss = tf.reduce_sum(u * tf.constant(du, dtype=tf.float64))
    return tape.gradient(loss, x).numpy()


def check_conv2d_input_gradient_strided(student) -> CheckResult:
    """Exercise: ``input_gradient(du, x_shape, h, stride, padding)`` = dL/dx of
    ``conv2d(x, h, stride=stride, padding=padding)`` (padding an integer P or "valid"/"same"),
    compared with ``tf.GradientTape``."""
    def make(rng, N, W, K, H, M, stride, padding):
        W_out = ops.conv2d(np.zeros((1, W, W, K)), np.zeros((H, H, K, M)), stride=stride, padding=padding).shape[1]
        words = _("x {x}, h {h}, stride {stride}, padding {padding}").format(
            x=f"{N}x{W}x{W}x{K}", h=f"{H}x{H}x{K}x{M}", stride=stride, padding=repr(padding))
        return Case((rng.normal(size=(N, W_out, W_out, M)), (N, W, W, K), rng.normal(size=(H, H, K, M)),
                     stride, padding), words)

    cases = _random_cases([(1, 5, 1, 3, 1, 1, 0), (2, 7, 2, 3, 2, 2, 0), (1, 8, 1, 3, 2, 2, 1),
                           (2, 9, 3, 2, 2, 3, "valid"), (1, 6, 2, 3, 3, 2, "same"), (1, 10, 1, 4, 2, 3, 2)],
                          11, make)

    def stride_one(du, x_shape, h, stride, padding):
        """The typical mistake: du's pixels side by side, as if the stride were 1."""
        H = h.shape[0]
        P = _padding_total(x_shape[1], H, stride, padding)
        W_pad = x_shape[1] + P[0] + P[1]
        dx = np.zeros((x_shape[0], W_pad, W_pad, x_shape[3]))
        W_out = du.shape[1]
        for p in range(H):
            for q in range(H):
                dx[:, p:p + W_out, q:q + W_out] += np.einsum("nijm,km->nijk", du, h[p, q])
        return dx[:, P[0]:P[0] + x_shape[1], P[0]:P[0] + x_shape[1]]

    mistakes = [
        (stride_one, N_("with stride s, output (i, j) read the window at (s*i, s*j): spread du's pixels s apart "
                        "(or insert s - 1 zeros between them) before the full convolution")),
        (lambda du, x_shape, h, stride, padding: _input_gradient_strided_tf(du, x_shape, h[::-1, ::-1], stride,
                                                                            padding), N_("your filter is flipped")),
    ]
    return run_checker(N_("input gradient with stride and padding"), student, _input_gradient_strided_tf, cases,
                       mistakes, atol=1e-8, time_limit=30)


def _padding_total(W, H, stride, padding) -> tuple[int, int]:
    """(before, after) zeros on each side, as ops.conv2d pads."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return ops.same_padding(W, H, stride)
    return padding, padding


def _avg_pool_backward(z, du, size, stride):
    from course_utils import backprop

    return backprop.avg_pool2d_backward(z, du, size, stride)


def check_avg_pool_backward(student) -> CheckResult:
    """Exercise: ``avg_pool_backward(z, du, size, stride)``: dL/dz of ``avg_pool2d(z, size, stride)``
    for z (W, W, K) and du (W', W', K), overlapping windows included, compared with
    ``backprop.avg_pool2d_backward`` (proved against tf.GradientTape)."""
    def make(rng, W, K, size, stride):
        W_out = (W - size) // stride + 1
        return Case((rng.normal(size=(W, W, K)), rng.normal(size=(W_out, W_out, K)), size, stride),
                    f"z {W}x{W}x{K}, size={size}, stride={stride}")

    cases = _random_cases([(4, 1, 2, 2), (6, 3, 2, 2), (5, 2, 2, 2), (7, 2, 3, 2), (6, 2, 3, 1), (9, 1, 3, 3)],
                          12, make)
    mistakes = [
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride, lambda w, g: np.ones(w.shape) * g),
         N_("every pixel got the whole gradient: the window's mean gives each pixel a share 1/size^2")),
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride,
                                                              lambda w, g: np.ones(w.shape) * g / size ** 2, add=False),
         N_("where windows overlap (stride < size), a pixel collects a share from every window it is in: "
            "add them (+=), do not overwrite")),
        (lambda z, du, size, stride: _pool_backward_by_window(z, du, size, stride, lambda w, g: _first_maximum(w, g)),
         N_("that routes each gradient to the window's maximum (max pooling); average pooling spreads it evenly")),
    ]
    return run_checker(N_("average-pool backward"), student, _avg_pool_backward, cases, mistakes)


def _adadelta_reference(v, g, Eg, Ed, learning_rate, rho, eps):
    """One Adadelta step as keras.optimizers.Adadelta takes it (its update_step, read and
    re-derived): the rows of the result are the new v, E[g^2] and E[dv^2]."""
    Eg = rho * Eg + (1 - rho) * g * g
    delta = -np.sqrt(Ed + eps) / np.sqrt(Eg + eps) * g
    Ed = rho * Ed + (1 - rho) * delta * delta
    return np.stack([v + learning_rate * delta, Eg, Ed])


def check_adadelta_step(student) -> CheckResult:
    """Exercise: ``adadelta_step(v, g, Eg, Ed, learning_rate, rho, eps)`` returns the new
    ``(v, Eg, Ed)`` after one Adadelta step (compared as rows 0, 1, 2 of one array), for accumulators already far from zero and
    non-default settings; compared with an independent implementation (proved against
    keras.optimizers.Adadelta in tests/test_backprop.py)."""
    def make(rng, n, learning_rate, rho, eps, fresh):
        v, g = rng.normal(size=n), rng.normal(size=n) * 10.0 ** rng.uniform(-3, 1, size=n)
        Eg, Ed = (np.zeros(n), np.zeros(n)) if fresh else (rng.uniform(0, 1, n) ** 2, rng.uniform(0, 0.1, n) ** 2)
        words = (_("{n} weights, learning_rate={learning_rate}, rho={rho}, eps={eps}, accumulators at zero") if fresh
                 else _("{n} weights, learning_rate={learning_rate}, rho={rho}, eps={eps}, accumulators already "
                        "filled"))
        return Case((v, g, Eg, Ed, learning_rate, rho, eps),
                    words.format(n=n, learning_rate=learning_rate, rho=rho, eps=eps))

    cases = _random_cases([(5, 1.0, 0.95, 1e-7, True), (8, 1.0, 0.95, 1e-7, False), (6, 0.5, 0.9, 1e-6, False),
                           (4, 0.001, 0.99, 1e-4, False), (12, 3.0, 0.8, 1e-5, False)], 13, make)

    def delta_with_new_update(v, g, Eg, Ed, learning_rate, rho, eps):
        Eg = rho * Eg + (1 - rho) * g * g
        delta = -np.sqrt(Ed + eps) / np.sqrt(Eg + eps) * g
        Ed = rho * Ed + (1 - rho) * delta * delta
        delta = -np.sqrt(Ed + eps) / np.sqrt(Eg + eps) * g          # E[dv^2] updated before it is used
        return np.stack([v + learning_rate * delta, Eg, Ed])

    mistakes = [
        (delta_with_new_update, N_("the step uses E[dv^2] from *before* this step; update E[dv^2] after computing dv")),
        (lambda v, g, Eg, Ed, lr, rho, eps: _adadelta_reference(v, g, Eg, Ed, 1.0, rho, eps),
         N_("the learning rate is missing: the step is learning_rate * dv")),
        (lambda v, g, Eg, Ed, lr, rho, eps: _adadelta_reference(v, g, Eg, Ed, lr, 0.95, 1e-7),
         N_("use the rho and eps you are given, not Keras' defaults")),
    ]
    return run_checker(N_("one Adadelta step"), student, _adadelta_reference, cases, mistakes, atol=1e-9)


def _xcol_shape(N, W, K, H, s=1, P=0):
    """The shape of X_col (one window per row), read off the course's im2col of zeros."""
    return tuple(int(d) for d in ops.im2col(np.zeros((N, W, W, K)), H, stride=s, padding=P).T.shape)


def check_xcol_shape(student) -> CheckResult:
    """Exercise: ``xcol_shape(N, W, K, H, s=1, P=0)`` = the shape (rows, columns) of
    X_col, one window per row, for N images W x W x K, filters H x H, stride s, padding P."""
    def case(N, W, K, H, s, P):
        return Case((N, W, K, H, s, P), f"N={N}, W={W}, K={K}, H={H}, s={s}, P={P}")

    def make(rng, stride_and_padding):          # the fixed case's s and P, the sizes drawn
        (s, P), H = stride_and_padding, int(rng.integers(1, 6))
        return case(int(rng.integers(1, 5)), int(rng.integers(max(H - 2 * P, 1), 31)), int(rng.integers(1, 17)), H,
                    s, P)

    grid = [(1, 5, 1, 3, 1, 0), (2, 28, 1, 3, 1, 0), (3, 26, 32, 3, 1, 0), (2, 7, 3, 3, 2, 0), (1, 8, 2, 3, 2, 1),
            (4, 9, 5, 4, 3, 2), (1, 6, 1, 6, 1, 0)]
    cases = _fixed_or_fresh([case(*args) for args in grid], [args[4:] for args in grid], 14, make)
    mistakes = [
        (lambda N, W, K, H, s=1, P=0: _xcol_shape(N, W, K, H, s, P)[::-1],
         N_("rows and columns are swapped: one row per window (N W'^2 rows), one column per weight (H^2 K)")),
        (lambda N, W, K, H, s=1, P=0: (N * ((W - H) // s + 1) ** 2, H * H * K),
         N_("the padding is missing: W' = (W + 2P - H) // s + 1")),
        (lambda N, W, K, H, s=1, P=0: (N * (W + 2 * P - H + 1) ** 2, H * H * K),
         N_("the stride is missing: W' = (W + 2P - H) // s + 1")),
        (lambda N, W, K, H, s=1, P=0: (N * ((W + 2 * P - H) // s + 1) ** 2, H * H),
         N_("each window spans every input channel: H^2 K columns")),
    ]

    return run_checker(N_("the shape of X_col"), student, lambda *a: np.array(_xcol_shape(*a)), cases,
                       [(lambda *a, f=f: np.array(f(*a)), hint) for f, hint in mistakes])


def _one_se_choice(rows):
    from course_utils.experiments import selection

    return selection.choose([dict(variant=r["variant"], seed=seed, val_accuracy=accuracy, parameters=r["parameters"])
                             for r in rows for seed, accuracy in enumerate(r["val_accuracies"])])["choice"]


def check_one_se_rule(student) -> CheckResult:
    """Exercise: ``choose(rows)``: chapter 10's rule on rows ``{"variant", "parameters",
    "val_accuracies": [seed 0, seed 1, seed 2]}``: the variant with the fewest parameters
    whose mean is at least the best mean minus the best's standard error (sample standard
    deviation / sqrt(3)); returns its name."""
    def make(rng, count, spread):
        rows = [{"variant": f"v{i}", "parameters": int(rng.integers(10_000, 5_000_000)),
                 "val_accuracies": list(np.round(0.985 + rng.normal(0, spread, 3), 4))} for i in range(count)]
        return Case((rows,), _("{count} variants, seed-to-seed spread {spread}").format(count=count, spread=spread))

    cases = _random_cases([(3, 0.001), (5, 0.0005), (8, 0.002), (4, 0.0001), (10, 0.001), (6, 0.003)], 15, make)
    # Made by hand so that each mistake below chooses differently: best mean 0.986, sample SE
    # 0.00231 (population 0.00189, SD 0.004); v1's mean 0.9839 lies between the two floors,
    # v2's 0.9825 is within one SD but not one SE.
    cases.append(Case(([{"variant": "v0", "parameters": 5_000_000, "val_accuracies": [0.990, 0.986, 0.982]},
                        {"variant": "v1", "parameters": 1_000_000, "val_accuracies": [0.9849, 0.9839, 0.9829]},
                        {"variant": "v2", "parameters": 100_000, "val_accuracies": [0.9835, 0.9825, 0.9815]}],),
                      _("3 variants, one between the floors of the sample and the population standard deviation")))

    def best_only(rows):
        return max(rows, key=lambda r: np.mean(r["val_accuracies"]))["variant"]

    def population_sd(rows):
        best = max(rows, key=lambda r: np.mean(r["val_accuracies"]))
        floor = np.mean(best["val_accuracies"]) - np.std(best["val_accuracies"]) / np.sqrt(3)
        return min((r for r in rows if np.mean(r["val_accuracies"]) >= floor), key=lambda r: r["parameters"])["variant"]

    def sd_not_se(rows):
        best = max(rows, key=lambda r: np.mean(r["val_accuracies"]))
        floor = np.mean(best["val_accuracies"]) - np.std(best["val_accuracies"], ddof=1)
        return min((r for r in rows if np.mean(r["val_accuracies"]) >= floor), key=lambda r: r["parameters"])["variant"]

    mistakes = [(best_only, N_("that is the best mean itself: the rule takes the *smallest* model within one standard "
                               "error of it")),
                (sd_not_se, N_("one standard *error* of the mean is the standard deviation divided by sqrt(3)")),
                (population_sd, N_("use the sample standard deviation (ddof=1), as statistics.stdev does"))]
    return run_checker(N_("the one-standard-error rule"), student, _one_se_choice, cases, mistakes)


# --- the exercises that ask for code: label -> (function name the student defines, checker)

# --- training well: a momentum step, the He scale, batch normalisation --------------------

def _momentum_reference(v, g, phi, learning_rate, momentum):
    from course_utils.optimizers import sgd_step    # proved against keras.optimizers.SGD

    return np.stack(sgd_step(v, g, phi, learning_rate, momentum))


def check_momentum_step(student) -> CheckResult:
    """Exercise: ``momentum_step(v, g, phi, learning_rate, momentum)`` returns
    ``np.stack([v, phi])`` after one step of SGD with momentum, as Keras computes it."""
    def make(rng, n, learning_rate, momentum, fresh):
        v, g = rng.normal(size=n), rng.normal(size=n) * 10.0 ** rng.uniform(-2, 1, size=n)
        phi = np.zeros(n) if fresh else rng.normal(size=n) * 0.1
        words = (_("{n} weights, learning_rate={learning_rate}, momentum={momentum}, velocity at zero") if fresh
                 else _("{n} weights, learning_rate={learning_rate}, momentum={momentum}, velocity already moving"))
        return Case((v, g, phi, learning_rate, momentum),
                    words.format(n=n, learning_rate=learning_rate, momentum=momentum))

    cases = _random_cases([(5, 0.1, 0.9, True), (6, 0.1, 0.9, False), (4, 0.05, 0.5, False),
                           (8, 1.0, 0.99, False), (3, 0.3, 0.6, False)], 17, make)
    mistakes = [
        (lambda v, g, phi, lr, mu: np.stack([v - lr * (mu * phi + (1 - mu) * g), mu * phi + (1 - mu) * g]),
         N_("the velocity is a running sum, not a running average: phi <- momentum * phi - learning_rate * g")),
        (lambda v, g, phi, lr, mu: _momentum_reference(v, g, np.zeros_like(phi), lr, mu),
         N_("the old velocity is part of the step: phi <- momentum * phi - learning_rate * g")),
        (lambda v, g, phi, lr, mu: np.stack([v + mu * phi - lr * g, mu * phi - lr * g]),
         N_("the weights move by the new velocity, not by the old one")),
        (lambda v, g, phi, lr, mu: np.stack([v + mu * phi + lr * g, mu * phi + lr * g]),
         N_("a step goes against the gradient: subtract learning_rate * g")),
    ]
    return run_checker(N_("one momentum step"), student, _momentum_reference, cases, mistakes, atol=1e-9)


def _he_reference(kernel_shape):
    from course_utils.initialisation import he_std      # checked against keras.initializers.HeNormal

    return np.float64(he_std(kernel_shape))


def check_he_std(student) -> CheckResult:
    """Exercise: ``he_std(kernel_shape)``, the He standard deviation sqrt(2 / n_in) of a conv
    kernel (H, H, K, M) or a dense kernel (inputs, outputs)."""
    shapes = [(3, 3, 1, 32), (3, 3, 32, 64), (9216, 128), (128, 10), (5, 5, 3, 16), (1, 1, 64, 32), (7, 7, 2, 8)]
    def case(shape):
        return Case((shape,), _("kernel of shape {shape}").format(shape=shape))

    def make(rng, kind):
        if kind == "dense":
            return case((int(rng.integers(1, 10_000)), int(rng.integers(1, 257))))
        H = int(rng.integers(1, 8))
        return case((H, H, int(rng.integers(1, 129)), int(rng.integers(1, 257))))

    kinds = ["dense" if len(shape) == 2 else "conv" for shape in shapes]
    cases = _fixed_or_fresh([case(shape) for shape in shapes], kinds, 25, make)
    mistakes = [
        (lambda shape: np.float64(np.sqrt(2 / shape[-2])),
         N_("a conv unit sums over its whole window: n_in = H * H * K, not K")),
        (lambda shape: np.float64(np.sqrt(2 / np.prod(shape[:-2]) / shape[-1]) if len(shape) > 2
                                  else np.sqrt(2 / shape[-1])),
         N_("n_in counts the inputs of one unit, not its outputs")),
        (lambda shape: np.float64(np.sqrt(1 / np.prod(shape[:-1]))),
         N_("after a ReLU the variance is 2 / n_in: ReLU halves the mean square")),
        (lambda shape: np.float64(2 / np.prod(shape[:-1])), N_("return the standard deviation, the square root of the variance")),
        (lambda shape: np.float64(np.sqrt(2 / (np.prod(shape[:-1]) + np.prod(shape[:-2]) * shape[-1]))),
         N_("that is Glorot's scale; He's uses n_in alone")),
    ]
    return run_checker(N_("the He scale"), student, _he_reference, cases, mistakes, atol=1e-12)


def _batch_norm_reference(u, gamma, beta, eps):
    from course_utils.batchnorm import batch_norm_forward   # proved against keras.layers.BatchNormalization

    channels = u.shape[-1]
    return batch_norm_forward(u, gamma, beta, np.zeros(channels), np.ones(channels), True, epsilon=eps)[0]


def check_batch_norm_forward(student) -> CheckResult:
    """Exercise: ``batch_norm(u, gamma, beta, eps)``, batch normalisation in training mode of
    a batch (N, W, W, M): statistics per channel over the batch and every position."""
    def make(rng, n, side, channels, eps):
        u = rng.normal(size=(n, side, side, channels)) * rng.uniform(0.5, 4, channels) + rng.normal(0, 3, channels)
        gamma, beta = rng.normal(1, 0.5, channels), rng.normal(0, 0.5, channels)
        return Case((u, gamma, beta, eps), _("a batch of shape {shape}, eps={eps}").format(shape=u.shape, eps=eps))

    cases = _random_cases([(4, 5, 3, 1e-3), (2, 6, 4, 1e-2), (8, 3, 2, 1e-3), (3, 4, 5, 0.5)], 19, make)

    def normalise(u, gamma, beta, eps, axes=(0, 1, 2), ddof=0, outside=False):
        mean, std = u.mean(axis=axes, keepdims=True), u.std(axis=axes, ddof=ddof, keepdims=True)
        scale = std + eps if outside else np.sqrt(std ** 2 + eps)
        return gamma * (u - mean) / scale + beta

    mistakes = [
        (lambda *a: normalise(*a, axes=(1, 2)),
         N_("the statistics are the batch's: one mean and variance per channel over the images and the positions")),
        (lambda *a: normalise(*a, axes=(0, 1, 2, 3)), N_("each channel gets its own mean and variance")),
        (lambda *a: normalise(*a, ddof=1), N_("batch normalisation divides by n, not n - 1 (the biased variance)")),
        (lambda *a: normalise(*a, outside=True), N_("eps goes inside the square root: sqrt(var + eps)")),
        (lambda u, gamma, beta, eps: normalise(u, 1.0, 0.0, eps), N_("scale by gamma and add beta at the end")),
    ]
    return run_checker(N_("batch normalisation, forward"), student, _batch_norm_reference, cases, mistakes,
                       atol=1e-9)


EXERCISES = {
    "ex-conv-single": ("my_conv", check_conv2d_single),
    "ex-output-size": ("my_output_size", check_output_size),
    "ex-conv-stride": ("my_strided_conv", check_conv2d_strided),
    "ex-conv-multi": ("my_conv_layer", check_conv2d_multi),
    "ex-param-count": ("my_param_count", check_param_count),
    "ex-max-pool": ("my_max_pool", check_max_pool),
    "ex-avg-pool": ("my_avg_pool", check_avg_pool),
    "ex-col2im": ("my_input_gradient", check_conv2d_input_gradient),
    "ex-receptive-field": ("my_receptive_field", check_receptive_field),
    "ex-model-params": ("my_model_params", check_model_params),
    "ex-best-epoch": ("my_best_epoch", check_best_epoch),
    "ex-minmax": ("my_minmax", check_minmax),
    "ex-confusion": ("my_confusion_matrix", check_confusion_matrix),
    "ex-softmax-ce-grad": ("my_softmax_ce_grad", check_softmax_ce_grad),
    "ex-max-pool-backward": ("my_max_pool_backward", check_max_pool_backward),
    "ex-filter-gradient": ("my_filter_gradient", check_filter_gradient),
    "ex-fit-filter": ("my_fit_filter", check_fit_filter),
    "ex-input-gradient-strided": ("my_input_gradient_strided", check_conv2d_input_gradient_strided),
    "ex-avg-pool-backward": ("my_avg_pool_backward", check_avg_pool_backward),
    "ex-adadelta-step": ("my_adadelta_step", check_adadelta_step),
    "ex-xcol-shape": ("my_xcol_shape", check_xcol_shape),
    "ex-one-se-rule": ("my_choose", check_one_se_rule),
    "ex-momentum-step": ("my_momentum_step", check_momentum_step),
    "ex-he-std": ("my_he_std", check_he_std),
    "ex-batch-norm-forward": ("my_batch_norm", check_batch_norm_forward),
}
