"""conv2 of the source CNN on the 10,000 test images: naive loops, conv2d_im2col, tf.nn.conv2d.

Usage: python benchmarks/im2col.py [--repeats 5] [--naive-images 2]

All three run in this one process on the same input (the ReLU output of conv1 with the
reference run's weights, 10000 x 26 x 26 x 32, float32) and compute conv2 with bias and
ReLU. The naive loops (the equation as six nested Python loops) are timed on a few images
and extrapolated to 10,000, which the output says. Times are medians over --repeats rounds in which the methods alternate.
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

import numpy as np

from course_utils.data import load_mnist, scale_images
from course_utils.models import trained_source_cnn
from course_utils.ops import DEFAULT_MEMORY_BUDGET, conv2d_im2col, output_size

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


def im2col_conv_relu(z, h, b):
    return conv2d_im2col(z, h, b, activation="relu")


def tf_conv_relu(z, h, b):
    import tensorflow as tf

    return tf.nn.relu(tf.nn.conv2d(z, h, strides=1, padding="VALID") + b).numpy()


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmHWM: peak, VmRSS: now)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


METHODS = {"conv2d_im2col": im2col_conv_relu, "tf.nn.conv2d": tf_conv_relu}


def timed(function, z, h, b) -> float:
    start = time.perf_counter()
    out = function(z, h, b)
    seconds = time.perf_counter() - start
    del out
    return seconds


def _rounds(z, h, b, repeats) -> dict:
    """Seconds of every method in every round. The methods alternate within a round, so a
    slow minute of a shared machine slows both, and each round gives one ratio."""
    seconds = {name: [] for name in METHODS}
    for _ in range(repeats):
        for name, function in METHODS.items():
            seconds[name].append(timed(function, z, h, b))
    return seconds


def traced_extra(function, z, h, b) -> float:
    """tracemalloc's peak beyond the output array."""
    tracemalloc.start()
    out = function(z, h, b)
    extra = tracemalloc.get_traced_memory()[1] - out.nbytes
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
    function = METHODS[method]
    function(z[:10], h, b)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _status_bytes("VmRSS")
    out = function(z, h, b)
    print(json.dumps({"extra_bytes": _status_bytes("VmHWM") - before - out.nbytes}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child_main(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--naive-images", type=int, default=2)
    args = parser.parse_args()

    model, _ = trained_source_cnn()
    _, (x_test, _) = load_mnist()
    x = scale_images(x_test)
    h1, b1 = model.get_layer("conv1").get_weights()
    h2, b2 = model.get_layer("conv2").get_weights()
    z1 = im2col_conv_relu(x, h1, b1)                      # conv2's input, (10000, 26, 26, 32)
    print(f"input {z1.shape} float32 ({z1.nbytes / MB:.0f} MB), output 10000x24x24x64 "
          f"({10000 * 24 * 24 * 64 * 4 / MB:.0f} MB); im2col memory budget {DEFAULT_MEMORY_BUDGET / 2**20:.0f} MiB")

    # Correctness first: all three agree.
    reference = tf_conv_relu(z1[:50], h2, b2)
    assert np.abs(im2col_conv_relu(z1[:50], h2, b2) - reference).max() < 1e-4
    assert np.abs(naive_conv_relu(z1[:1], h2, b2) - reference[:1]).max() < 1e-4
    tf_conv_relu(z1[:10], h2, b2)                           # warm-up

    start = time.perf_counter()
    naive_conv_relu(z1[:args.naive_images], h2, b2)
    naive = (time.perf_counter() - start) / args.naive_images * len(z1)
    results = {"naive loops": (naive, float("nan"), float("nan"))}
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "conv2_input.npz")
        np.savez(data_path, z=z1, h=h2, b=b2)
        rounds = _rounds(z1, h2, b2, args.repeats)
        for name, function in METHODS.items():
            results[name] = (statistics.median(rounds[name]), traced_extra(function, z1, h2, b2),
                             child_peak_rss(name, data_path))
    print(f"naive loops timed on {args.naive_images} images and extrapolated to {len(z1)}; "
          f"other times are medians of {args.repeats} rounds, the methods alternating within a round")
    print(f"{'method':15s} {'seconds':>10s} {'extra MB (tracemalloc)':>23s} {'extra MB (peak RSS)':>20s}")
    for name, (seconds, traced, rss) in results.items():
        print(f"{name:15s} {seconds:10.2f} {traced / MB:23.1f} {rss / MB:20.1f}")
    ours, tf_time = results["conv2d_im2col"][0], results["tf.nn.conv2d"][0]
    ratios = sorted(a / b for a, b in zip(rounds["conv2d_im2col"], rounds["tf.nn.conv2d"]))
    print(f"time ratio conv2d_im2col / tf.nn.conv2d: {ours / tf_time:.2f} (ratio of medians); per round "
          f"median {statistics.median(ratios):.2f}, range {ratios[0]:.2f} to {ratios[-1]:.2f} (goal <= 1.0)")
    print(f"speed-up of conv2d_im2col over naive loops: {naive / ours:,.0f}x (goal >= 300x)")


if __name__ == "__main__":
    main()
