"""The im2col engine: :func:`~course_utils.ops.conv2d` as one matrix product per small
batch of images, in threads, within a memory budget.

``ops`` holds the readable operations the chapters teach (``ops.im2col`` unrolls the
windows in one line); this module is the fast version chapter 9 times against TensorFlow:
it decides its batches before allocating anything (:func:`batch_plan`), reuses its
buffers, runs one thread per usable core (:func:`usable_cores`, which respects the
container's CPU quota) and keeps BLAS single-threaded meanwhile without ever leaving it
changed (:func:`single_threaded_blas`).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from course_utils.ops import _float_dtype, _padding_pairs, _positive_int, check_conv_args, output_size, windows

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes of scratch memory conv2d_im2col may use
# Batches of about this much scratch memory run as fast as larger ones (measured with
# benchmarks/im2col.py --batches: 2 to 41 conv2 images alike, 1 image slower) while their
# columns still fit in the processor's cache and the scratch memory stays a few MB.
_CACHE_BLOCK_BYTES = 2 * 2**20
# With 16 threads, conv2 on 10,000 images took 0.37 s in batches of 2 images and 0.27 s in
# batches of 4 (a quiet 16-core Xeon, NumPy 2.5, OpenBLAS SkylakeX kernel): batches get at
# least one image per this many threads.
_THREADS_PER_IMAGE = 4
# Allowance for NumPy's own small buffers (strided copies iterate through a buffer).
_OVERHEAD_BYTES = 64 * 2**10

# --- cores: the CPU affinity and the cgroup's CPU quota ----------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(proc_cgroup: Path) -> str:
    """This process's cgroup v2 path ("0::/path" in /proc/self/cgroup), or "" if none."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return ""
    return next((line[3:].strip("/") for line in lines if line.startswith("0::")), "")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs the cgroup's quota allows (quota / period, e.g. 1.5), or None without a quota.

    Reads cgroup v2's ``cpu.max`` ("max 100000" or "150000 100000"), in this process's own
    cgroup and then at the root of the mount (a container sees its own cgroup there), else
    cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (a quota of -1: none).
    """
    root = Path(root)
    for folder in dict.fromkeys([root / _own_cgroup(Path(proc_cgroup)), root]):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError):
            continue
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota = int((root / name / "cpu.cfs_quota_us").read_text())
            period = int((root / name / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """Cores this process may keep busy: those it may run on (``sched_getaffinity``),
    fewer if its cgroup's CPU quota (Binder, Docker ``--cpus``) allows less, rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(root, proc_cgroup)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


# --- BLAS kept single-threaded while the engine's threads run -----------------------------

_blas_lock = threading.Lock()
_blas_state = {"controller": None, "callers": 0, "limiter": None}


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS at one thread while any caller is inside, then as it was before the first.

    ``threadpoolctl.threadpool_limits`` is process-wide: two overlapping callers each save
    the count they find and restore it on leaving, so if the first to enter leaves first,
    the second restores the 1 it found and BLAS stays single-threaded for good. Here one
    shared ``ThreadpoolController`` behind a lock counts the callers: the first to enter
    saves and lowers the count, the last to leave restores it.
    """
    from threadpoolctl import ThreadpoolController

    with _blas_lock:
        if _blas_state["controller"] is None:
            _blas_state["controller"] = ThreadpoolController()
        if _blas_state["callers"] == 0:
            _blas_state["limiter"] = _blas_state["controller"].limit(limits=1, user_api="blas")
        _blas_state["callers"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["callers"] -= 1
            if _blas_state["callers"] == 0:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def _in_threads(work, items, workers: int) -> None:
    """Run ``work(share)`` in ``workers`` threads, BLAS single-threaded meanwhile (the threads
    already keep every core busy); re-raises the first error. The shares draw from one queue
    of items, so a thread slowed by the machine's other work takes fewer of them."""
    lock, queue = threading.Lock(), iter(items)

    def share():
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            yield item

    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work, share()) for _ in range(workers)]:
            future.result()


# --- planning: scratch memory per image, batches and threads ------------------------------

def _shape_check(x_shape, h_shape):
    if len(x_shape) != 4 or len(h_shape) != 4:
        raise ValueError(f"x_shape, h_shape: expected (N, W, W, K) and (H, H, K, M), got {tuple(x_shape)} "
                         f"and {tuple(h_shape)}")


def _padded_sides(sides, H: int, stride: int, padding) -> tuple[int, int]:
    return tuple(W + before + after for W, (before, after) in zip(sides, _padding_pairs(sides, H, stride, padding)))


def im2col_bytes_per_image(x_shape, h_shape, stride: int = 1, padding="valid", itemsize: int = 4,
                           bias: bool = False, activation=None) -> int:
    """Scratch bytes one image needs in :func:`conv2d_im2col`: its columns (with a column
    of ones for the bias, if there is one), its zero-padded copy when there is padding,
    and for a ReLU one image's output of zeros (counted per image, though it is shared).
    Images may be rectangular: ``x_shape`` is (N, rows, columns, K).

    Examples
    --------
    >>> im2col_bytes_per_image((1, 26, 26, 32), (3, 3, 32, 64))   # conv2 of the source CNN
    663552
    """
    _shape_check(x_shape, h_shape)
    sides, K, H = tuple(x_shape[1:3]), x_shape[3], h_shape[0]
    pixels = math.prod(output_size(W, H, stride, padding) for W in sides)
    padded_sides = _padded_sides(sides, H, stride, padding)
    padded = 0 if padded_sides == sides else math.prod(padded_sides) * K
    zeros = pixels * h_shape[3] if activation == "relu" else 0
    return (pixels * (H * H * K + bias) + padded + zeros) * itemsize


class BatchPlan(NamedTuple):
    """How :func:`conv2d_im2col` splits its work: images per batch, threads, and the
    scratch bytes one image needs. Together the threads use ``scratch_bytes``."""

    images: int
    threads: int
    per_image: int

    @property
    def scratch_bytes(self) -> int:
        return self.images * self.threads * self.per_image


def _batching(images: int, per_image: int, usable: int, cores: int) -> tuple[int, int]:
    """Images per batch and threads: one thread per core, never more threads than
    batches, and every thread's buffers together within ``usable`` bytes. Batches hold
    at least one image per ``_THREADS_PER_IMAGE`` threads: each batch holds Python's
    global lock for a few microseconds of bookkeeping, and with many threads small
    batches queue for it; where the budget does not allow that, fewer threads run."""
    threads = max(1, min(cores, images))
    while True:
        least = -(-threads // _THREADS_PER_IMAGE)
        batch = max(1, min(images, usable // per_image, max(_CACHE_BLOCK_BYTES // per_image, least)))
        workers = max(1, min(threads, -(-images // batch), usable // per_image))
        if workers > 1:
            batch = min(batch, usable // workers // per_image)
        if workers == 1 or batch >= -(-workers // _THREADS_PER_IMAGE):
            return batch, workers
        threads = workers - 1


def batch_plan(x_shape, h_shape, stride: int = 1, padding="valid", itemsize: int = 4, bias: bool = False,
               activation=None, memory_budget: int = DEFAULT_MEMORY_BUDGET, cores: int | None = None) -> BatchPlan:
    """The batches and threads :func:`conv2d_im2col` uses for inputs of shape ``x_shape``
    (N, W, W, K), decided before anything is allocated. Batches are as large as the
    processor's cache holds (``_CACHE_BLOCK_BYTES`` of columns), never beyond the budget;
    there is one thread per core, ``cores`` defaulting to :func:`usable_cores`.

    Examples
    --------
    >>> plan = batch_plan((10000, 26, 26, 32), (3, 3, 32, 64), bias=True, activation="relu", cores=2)  # conv2
    >>> plan.images, plan.threads, plan.scratch_bytes <= DEFAULT_MEMORY_BUDGET
    (2, 2, True)
    """
    _shape_check(x_shape, h_shape)
    memory_budget = _positive_int(memory_budget, "memory_budget")
    cores = usable_cores() if cores is None else _positive_int(cores, "cores")
    per_image = im2col_bytes_per_image(x_shape, h_shape, stride, padding, itemsize, bias, activation)
    usable = memory_budget - _OVERHEAD_BYTES
    if per_image > usable:
        raise ValueError(f"memory_budget: one image needs {per_image:,d} bytes of scratch memory plus "
                         f"{_OVERHEAD_BYTES:,d} for NumPy's buffers, got a budget of {memory_budget:,d}; "
                         f"expected at least {per_image + _OVERHEAD_BYTES:,d}")
    return BatchPlan(*_batching(x_shape[0], per_image, usable, cores), per_image)


# --- the convolution ----------------------------------------------------------------------

def _output_array(out, shape, dtype):
    """A new output array, or ``out`` once it is checked to be one the products can fill."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        given = (f"{type(out).__name__} of shape {out.shape}, dtype {out.dtype}, C-contiguous "
                 f"{out.flags.c_contiguous}" if isinstance(out, np.ndarray) else repr(type(out).__name__))
        raise ValueError(f"out: expected a C-contiguous NumPy array of shape {shape} and dtype {dtype}, got {given}")
    return out


def conv2d_im2col(x, h, b=None, stride: int = 1, padding="valid", activation=None,
                  memory_budget: int = DEFAULT_MEMORY_BUDGET, out=None):
    """:func:`~course_utils.ops.conv2d` computed as one matrix product per batch of images,
    in bounded memory.

    The images are processed in small batches (:func:`batch_plan`, decided before anything
    is allocated). For each batch the windows are read through a zero-copy view of the
    input, copied once into a reused column buffer (im2col), beside a column of ones that
    carries the bias, and multiplied with the filters straight into the output array; the
    ReLU follows while that block of the output is still in the cache. The batches are
    just large enough for the product to run at full speed and small enough for the
    columns to stay in the processor's cache between the copy and the product; the scratch
    memory (column buffers, padded batches, the ReLU's zeros) never exceeds
    ``memory_budget`` bytes (an integer). With several usable cores, threads (one per
    core, each with its own buffers and a single-threaded matrix product) take batches
    from a common queue: one thread copies windows while another multiplies.

    Same arguments, errors and results as ``conv2d`` (rectangular images too), plus
    ``out``: an array of the result's shape (with the batch axis) and dtype to write into,
    so that repeated calls reuse it instead of paying for fresh memory each time.

    Examples
    --------
    >>> from course_utils.ops import conv2d
    >>> x, h = np.ones((2, 5, 7, 3)), np.ones((3, 3, 3, 4))
    >>> np.array_equal(conv2d_im2col(x, h, stride=2), conv2d(x, h, stride=2))
    True
    """
    x, h, b, stride, padding, added = check_conv_args(x, h, b, stride, padding, activation)
    dtype = _float_dtype(x, h) if b is None else _float_dtype(x, h, b)
    x = x.astype(dtype, copy=False)
    H, K, M = h.shape[0], h.shape[2], h.shape[3]
    sides = x.shape[1:3]
    out_sides = tuple(output_size(W, H, stride, padding) for W in sides)
    batch, workers, _ = batch_plan(x.shape, h.shape, stride, padding, dtype.itemsize, b is not None,
                                   activation, memory_budget)
    u = _output_array(out, (len(x), *out_sides, M), dtype)
    # The bias rides in the product: a row of biases under the filters, a column of ones
    # beside the windows (one multiply-add more per output instead of a pass over it).
    h_matrix = h.reshape(H * H * K, M).astype(dtype, copy=False)
    if b is not None:
        h_matrix = np.vstack([h_matrix, b.astype(dtype)[None]])
    pixels = math.prod(out_sides)
    u_rows = u.reshape(len(x) * pixels, M)   # a view: out is C-contiguous
    # ReLU as a maximum with a whole image of zeros: against the scalar 0, np.maximum
    # takes about twice to four times as long.
    zeros = np.zeros(pixels * M, dtype=dtype) if activation == "relu" else None
    (top, _), (left, _) = _padding_pairs(sides, H, stride, padding)
    padded_sides = _padded_sides(sides, H, stride, padding)

    def convolve(starts):
        columns = np.ones((batch * pixels, len(h_matrix)), dtype=dtype)   # reused
        windows_part = columns[:, :H * H * K].reshape(batch, *out_sides, H, H, K)
        if padded_sides == sides:
            padded, source = None, windows(x, H, stride).transpose(0, 1, 2, 4, 5, 3)
        else:   # a reused zero-bordered buffer: np.pad would allocate per batch
            padded = np.zeros((batch, *padded_sides, K), dtype=dtype)
            source = windows(padded, H, stride).transpose(0, 1, 2, 4, 5, 3)
        for start in starts:
            n = min(batch, len(x) - start)
            if padded is None:
                np.copyto(windows_part[:n], source[start:start + n])
            else:
                padded[:n, top:top + sides[0], left:left + sides[1]] = x[start:start + n]
                np.copyto(windows_part[:n], source[:n])
            block = u_rows[start * pixels:(start + n) * pixels]
            np.matmul(columns[:n * pixels], h_matrix, out=block)
            if zeros is not None:   # ReLU while the block is still in cache
                images = block.reshape(n, -1)
                np.maximum(images, zeros, out=images)

    starts = range(0, len(x), batch)
    if workers == 1:
        convolve(starts)
    else:
        _in_threads(convolve, starts, workers)
    return u[0] if added else u
