"""conv2 of the source CNN on the 10,000 test images: naive loops, conv2d_im2col, tf.nn.conv2d.

Usage: python benchmarks/im2col.py [--repeats 7] [--naive-images 2] [--batches 1,2,3,8,48]

Measured as on a reader's machine: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed
from this process before NumPy loads (see blas_environment.py), and the output says which
BLAS kernel and how many threads ran.

All run in this one process on the same input (the ReLU output of conv1 with the
reference run's weights, 10000 x 26 x 26 x 32, float32) and compute conv2 with bias and
ReLU. The naive loops (the equation as six nested Python loops) are timed on a few images
and extrapolated to 10,000, which the output says. TensorFlow is timed twice: called on
NumPy arrays and returning one, as conv2d_im2col is (it then converts the input and copies
its result out of the tensor), and on tensors made beforehand, returning a tensor: its own
speed, without the conversions. "conv2d_im2col, out=" writes into an output array made
once and reused from round to round (a fresh 1.5 GB array pays for its pages on first
touch, every call). "products alone" times only conv2d_im2col's matrix products (see
`products_alone`): its floor. Times are medians over --repeats rounds in
which the fast methods alternate (see `alternating`).
--batches times conv2d_im2col with a forced number of images per batch instead of the
batches it chooses itself (same alternating rounds, against each other).

Peak extra memory is what a call needs beyond its input and its output array. It is
measured twice: with tracemalloc in this process (sees NumPy's allocations, not
TensorFlow's), and as the peak resident set (VmHWM) of a fresh child process per method,
which loads the input, warms the method up on 10 images, resets VmHWM through
/proc/self/clear_refs, runs once on all images and subtracts its resident set before the
call and the output's size. (A fresh process is needed: allocators keep freed memory
resident, which would hide a second call's scratch memory.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import statistics
import time
import tracemalloc

from blas_environment import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads

import numpy as np  # noqa: E402

from course_utils import im2col as engine  # noqa: E402
from course_utils.data import load_mnist, scale_images  # noqa: E402
from course_utils.im2col import DEFAULT_MEMORY_BUDGET, conv2d_im2col  # noqa: E402
from course_utils.models import trained_source_cnn  # noqa: E402
from course_utils.ops import output_size  # noqa: E402

MB = 1e6


def naive_conv_relu(z, h, b):
    """Equation (eq-conv-channels) as loops, then ReLU: the chapter's readable version."""
    N, W, _, K = z.shape
    H, M = h.shape[0], h.shape[3]
    size = output_size(W, H)
    u = np.zeros((N, size, size, M), dtype=np.float32)
    for n in range(N):
        for i in range(size):
            for j in range(size):
                for m in range(M):
                    total = b[m]
                    for p in range(H):
                        for q in range(H):
                            for k in range(K):
                                total += z[n, i + p, j + q, k] * h[p, q, k, m]
                    u[n, i, j, m] = max(total, 0.0)
    return u


def im2col_conv_relu(z, h, b, out=None):
    return conv2d_im2col(z, h, b, activation="relu", out=out)


def tf_conv_relu(z, h, b):
    """What a NumPy user calls: NumPy arrays in, a NumPy array out. TensorFlow converts the
    input into a tensor and copies its result out into a new NumPy array (.numpy())."""
    import tensorflow as tf

    return tf.nn.relu(tf.nn.conv2d(z, h, strides=1, padding="VALID") + b).numpy()


def tf_tensors_conv_relu(z, h, b):
    """TensorFlow's own speed: tensors in (converted beforehand, untimed) and a tensor out.
    Eager operations on the CPU have finished when they return."""
    import tensorflow as tf

    return tf.nn.relu(tf.nn.conv2d(z, h, strides=1, padding="VALID") + b)


def products_alone(z, h, b, out):
    """The floor of conv2d_im2col: only its matrix products, in the same batches and
    threads, on columns filled once beforehand (no window copy, no ReLU, and an output
    array reused from call to call). Its result is meaningless; its time is the part of
    conv2d_im2col that no rearranging of the NumPy code around the products can remove."""
    plan = engine.batch_plan(z.shape, h.shape, bias=True, activation="relu")
    rows = output_size(z.shape[1], h.shape[0]) ** 2
    out = out.reshape(-1, h.shape[3])
    weights = np.vstack([h.reshape(-1, h.shape[3]), b[None]])
    columns = np.ones((plan.images * rows, len(weights)), np.float32)   # only read: shared
    starts = range(0, len(z), plan.images)

    def multiply(share):
        for start in share:
            n = min(plan.images, len(z) - start)
            np.matmul(columns[:n * rows], weights, out=out[start * rows:(start + n) * rows])

    engine._in_threads(multiply, starts, plan.threads)
    return out


def with_output(z, h, b):
    """The inputs and an output array made once, to be reused by every call."""
    side = output_size(z.shape[1], h.shape[0])
    return z, h, b, np.zeros((len(z), side, side, h.shape[3]), np.float32)


def as_tensors(z, h, b):
    import tensorflow as tf

    return tuple(tf.constant(array) for array in (z, h, b))


def _same(z, h, b):
    return z, h, b


# name: (how the inputs are prepared, untimed; the timed call)
METHODS = {"conv2d_im2col": (_same, im2col_conv_relu),
           "conv2d_im2col, out=": (with_output, im2col_conv_relu),
           "tf.nn.conv2d": (_same, tf_conv_relu),
           "tf.nn.conv2d, tensors": (as_tensors, tf_tensors_conv_relu),
           "products alone": (with_output, products_alone)}
GOALS = {"tf.nn.conv2d, tensors": 1.0, "products alone": 1.3}   # conv2d_im2col / these, at most
NOT_A_CONVOLUTION = {"products alone"}     # timed only: no correct result, no memory figures
TRACED = {"conv2d_im2col", "tf.nn.conv2d"}  # tracemalloc sees NumPy arrays (for TensorFlow: its .numpy() copy)


def _nbytes(out) -> int:
    """Bytes of a float32 result, NumPy array or tensor."""
    return 4 * int(np.prod(out.shape))


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmHWM: peak, VmRSS: now)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def timed(call) -> float:
    start = time.perf_counter()
    out = call()
    seconds = time.perf_counter() - start
    del out
    return seconds


def alternating(calls: dict, repeats: int) -> dict:
    """Seconds of every call in every round. Within a round the calls run one after the
    other, in the opposite order every other round: a slow minute of a shared machine
    slows them all, none always runs on the heels of another, and each round gives one
    ratio."""
    seconds = {name: [] for name in calls}
    for round_number in range(repeats):
        order = list(calls) if round_number % 2 == 0 else list(calls)[::-1]
        for name in order:
            seconds[name].append(timed(calls[name]))
    return seconds


def prepared_calls(z, h, b) -> dict:
    calls = {}
    for name, (prepare, function) in METHODS.items():
        inputs = prepare(z, h, b)
        calls[name] = lambda function=function, inputs=inputs: function(*inputs)
    return calls


def ratio_line(rounds: dict, ours: str, theirs: str) -> str:
    per_round = sorted(a / b for a, b in zip(rounds[ours], rounds[theirs]))
    of_medians = statistics.median(rounds[ours]) / statistics.median(rounds[theirs])
    return (f"time ratio {ours} / {theirs}: {of_medians:.2f} (ratio of medians); per round median "
            f"{statistics.median(per_round):.2f}, range {per_round[0]:.2f} to {per_round[-1]:.2f}")


def batch_sizes(z, h, b, images_per_batch, repeats: int) -> None:
    """conv2d_im2col with batches of a forced size (the size it chooses included). The
    memory budget still applies: a size it does not allow is cut to the largest it does,
    and the output names the size that ran."""
    settings = dict(bias=True, activation="relu")
    per_image = engine.im2col_bytes_per_image(z.shape, h.shape, **settings)
    chosen = engine.batch_plan(z.shape, h.shape, **settings).images
    default = engine._CACHE_BLOCK_BYTES

    def forcing(images):
        engine._CACHE_BLOCK_BYTES = images * per_image

    def forced(images):
        def call():
            forcing(images)
            try:
                return im2col_conv_relu(z, h, b)
            finally:
                engine._CACHE_BLOCK_BYTES = default
        return call

    calls = {}
    for images in sorted(set(images_per_batch) | {chosen}):
        forcing(images)
        calls[engine.batch_plan(z.shape, h.shape, **settings).images] = forced(images)
    engine._CACHE_BLOCK_BYTES = default
    seconds = alternating(calls, repeats)
    print(f"conv2d_im2col by images per batch ({per_image / MB:.2f} MB of scratch memory per image; "
          f"it chooses {chosen}), medians of {repeats} alternating rounds:")
    for images, times in seconds.items():
        print(f"  {images:4d} images ({images * per_image / MB:6.1f} MB per thread): "
              f"{statistics.median(times):.2f} s")


def traced_extra(call) -> float:
    """tracemalloc's peak beyond the output (sees NumPy's allocations, not TensorFlow's)."""
    tracemalloc.start()
    out = call()
    extra = tracemalloc.get_traced_memory()[1] - _nbytes(out)
    tracemalloc.stop()
    return extra


def child_peak_rss(method: str, data_path: str) -> float:
    """Run one method in a fresh process (see the module docstring); returns extra bytes."""
    result = subprocess.run([sys.executable, __file__, "--child", method, data_path],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["extra_bytes"]


def child_main(method: str, data_path: str) -> None:
    with np.load(data_path) as data:
        z, h, b = data["z"], data["h"], data["b"]
    prepare, function = METHODS[method]
    function(*prepare(z[:10], h, b))
    inputs = prepare(z, h, b)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _status_bytes("VmRSS")
    out = function(*inputs)
    print(json.dumps({"extra_bytes": _status_bytes("VmHWM") - before - _nbytes(out)}))


def engine_blas_after() -> str:
    """BLAS's thread count after all the threaded calls: it must be as before."""
    from blas_environment import blas_description

    return "after the runs: " + blas_description()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child_main(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--naive-images", type=int, default=2)
    parser.add_argument("--batches", type=lambda text: [int(n) for n in text.split(",")], default=None,
                        help="also time conv2d_im2col with these numbers of images per batch")
    args = parser.parse_args()
    announce(REMOVED)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{engine.usable_cores()} usable cores, load average {load:.1f} at the start")

    model, _ = trained_source_cnn()
    _, (x_test, _) = load_mnist()
    x = scale_images(x_test)
    h1, b1 = model.get_layer("conv1").get_weights()
    h2, b2 = model.get_layer("conv2").get_weights()
    z1 = im2col_conv_relu(x, h1, b1)                      # conv2's input, (10000, 26, 26, 32)
    print(f"input {z1.shape} float32 ({z1.nbytes / MB:.0f} MB), output 10000x24x24x64 "
          f"({10000 * 24 * 24 * 64 * 4 / MB:.0f} MB); im2col memory budget {DEFAULT_MEMORY_BUDGET / 2**20:.0f} MiB")
    plan = engine.batch_plan(z1.shape, h2.shape, bias=True, activation="relu")
    print(f"conv2d_im2col: {plan.threads} threads, {plan.images} images per batch, BLAS at 1 thread inside them")

    # Correctness first: all agree (and every method is warmed up).
    reference = tf_conv_relu(z1[:50], h2, b2)
    for name, call in prepared_calls(z1[:50], h2, b2).items():
        if name in NOT_A_CONVOLUTION:
            call()
            continue
        assert np.abs(np.asarray(call()) - reference).max() < 1e-4, name
    assert np.abs(naive_conv_relu(z1[:1], h2, b2) - reference[:1]).max() < 1e-4

    start = time.perf_counter()
    naive_conv_relu(z1[:args.naive_images], h2, b2)
    naive = (time.perf_counter() - start) / args.naive_images * len(z1)
    results = {"naive loops": (naive, float("nan"), float("nan"))}
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "conv2_input.npz")
        np.savez(data_path, z=z1, h=h2, b=b2)
        calls = prepared_calls(z1, h2, b2)
        rounds = alternating(calls, args.repeats)
        for name, call in calls.items():
            memory = ((float("nan"), float("nan")) if name in NOT_A_CONVOLUTION else
                      (traced_extra(call) if name in TRACED else float("nan"), child_peak_rss(name, data_path)))
            results[name] = (statistics.median(rounds[name]), *memory)
    print(f"naive loops timed on {args.naive_images} images and extrapolated to {len(z1)}; "
          f"other times are medians of {args.repeats} alternating rounds")
    print(f"{'method':22s} {'seconds':>10s} {'extra MB (tracemalloc)':>23s} {'extra MB (peak RSS)':>20s}")
    for name, (seconds, traced, rss) in results.items():
        print(f"{name:22s} {seconds:10.2f} {traced / MB:23.1f} {rss / MB:20.1f}")
    print("(tf.nn.conv2d: NumPy arrays in and out, as conv2d_im2col; \"tensors\": inputs converted "
          "beforehand and the result left a tensor, TensorFlow's own speed)")
    for ours in ("conv2d_im2col", "conv2d_im2col, out="):
        print(ratio_line(rounds, ours, "tf.nn.conv2d"))
        for theirs, goal in GOALS.items():
            print(ratio_line(rounds, ours, theirs) + f" (goal <= {goal})")
    print(ratio_line(rounds, "products alone", "tf.nn.conv2d, tensors") + " (the floor of conv2d_im2col's products)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} at the end; " + engine_blas_after())
    print(f"speed-up of conv2d_im2col over naive loops: {naive / results['conv2d_im2col'][0]:,.0f}x (goal >= 300x)")
    if args.batches:
        batch_sizes(z1, h2, b2, args.batches, args.repeats)


if __name__ == "__main__":
    main()
