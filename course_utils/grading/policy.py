"""What the grader does not credit, and what an exercise may build on: one list for the
static check of the source (course_utils.grading.borrowed_work), the run-time audit inside the sandbox
(course_utils.grading.worker) and the verdicts (course_utils.grading).

Standard library only: the worker imports it inside the sandbox before any student code.
"""

from __future__ import annotations

# Modules whose code must not do an exercise's work, with the words the feedback uses.
NOT_CREDITED = {
    "course_utils": "the course's reference implementations",
    "keras": "Keras", "tf_keras": "Keras", "tensorflow": "TensorFlow",
    "scipy.signal": "SciPy's convolutions", "scipy.ndimage": "SciPy's convolutions",
    "torch": "PyTorch", "jax": "JAX",
}

# The functions of course_utils an exercise builds on, which its answer may call.
BUILDS_ON = {
    "ex-fit-filter": ("course_utils.ops.conv2d", "course_utils.backprop.conv2d_filter_gradient"),
    # chapter 5's own answer takes the "same" padding's widths from chapter 2's formula
    "ex-input-gradient-strided": ("course_utils.ops.same_padding",),
}

# What the worker's audit reports for Python threads it cannot watch (started before the
# call, or still running after it).
THREADS = "threads"


def not_credited(dotted: str) -> str | None:
    """The words for the not-credited module ``dotted`` is in (or None).

    >>> not_credited("scipy.signal.correlate2d"), not_credited("scipy.linalg")
    ("SciPy's convolutions", None)
    """
    for module, what in NOT_CREDITED.items():
        if dotted == module or dotted.startswith(module + "."):
            return what
    return None


def is_audited(name) -> bool:
    """Whether a name the worker's audit reports is a not-credited module (or one inside
    one), or :data:`THREADS`; anything else a worker sends is ignored."""
    return isinstance(name, str) and len(name) < 200 and (name == THREADS or not_credited(name) is not None)
