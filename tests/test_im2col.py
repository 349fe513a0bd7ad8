"""conv2d_im2col: same results and errors as conv2d (itself proved against Keras), bounded
scratch memory, and the trained network's conv layers reproduced within 1e-4."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from course_utils import checks
from course_utils import im2col as engine
from course_utils.im2col import DEFAULT_MEMORY_BUDGET, conv2d_im2col, im2col_bytes_per_image
from course_utils.ops import conv2d, im2col

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("N, W, K, H, M, stride, padding", [
    (3, 8, 1, 3, 4, 1, "valid"), (2, 9, 3, 3, 2, 2, "valid"), (2, 7, 3, 2, 5, 1, "same"),
    (3, 7, 1, 3, 3, 2, "same"), (2, 6, 2, 4, 2, 3, "same"), (2, 6, 1, 3, 2, 1, 1), (1, 9, 3, 5, 4, 2, 2),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_conv2d(N, W, K, H, M, stride, padding, dtype):
    x = RNG.normal(size=(N, W, W, K)).astype(dtype)
    h = RNG.normal(size=(H, H, K, M)).astype(dtype)
    b = RNG.normal(size=M).astype(dtype)
    expected = conv2d(x, h, b, stride, padding)
    # A budget of one image per batch exercises the batching loop.
    budget = im2col_bytes_per_image(x.shape, h.shape, stride, padding, np.dtype(dtype).itemsize, bias=True) + 2**16
    for memory_budget in (budget, DEFAULT_MEMORY_BUDGET):
        got = conv2d_im2col(x, h, b, stride, padding, memory_budget=memory_budget)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(conv2d_im2col(x[0], h), conv2d(x[0], h), rtol=1e-5, atol=1e-5)


def test_relu_is_applied_after_the_bias():
    x = RNG.normal(size=(5, 7, 7, 3)).astype(np.float32)
    h = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    b = RNG.normal(size=4).astype(np.float32)
    expected = np.maximum(conv2d(x, h, b), 0)
    assert (expected == 0).any() and (expected > 0).any()
    np.testing.assert_array_equal(conv2d(x, h, b, activation="relu"), expected)
    budget = im2col_bytes_per_image(x.shape, h.shape, bias=True, activation="relu") + 2**16   # one image per batch
    tracemalloc.start()
    got = conv2d_im2col(x, h, b, activation="relu", memory_budget=budget)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak - got.nbytes <= budget
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_im2col_layout_times_filters_is_the_convolution():
    x = RNG.normal(size=(2, 6, 6, 3))
    h = RNG.normal(size=(3, 3, 3, 4))
    columns = im2col(x, 3)
    assert columns.shape == (3 * 3 * 3, 2 * 4 * 4)
    u = (h.reshape(-1, 4).T @ columns).T.reshape(2, 4, 4, 4)
    np.testing.assert_allclose(u, conv2d(x, h), atol=1e-12)
    # Column 0 is the top-left window of image 0, read in (p, q, k) order.
    np.testing.assert_array_equal(columns[:, 0], x[0, :3, :3, :].ravel())


def test_scratch_memory_stays_within_the_budget():
    x = RNG.random((300, 26, 26, 32), dtype=np.float32)
    h = RNG.random((3, 3, 32, 64), dtype=np.float32)
    budget = 8 * 2**20
    tracemalloc.start()
    out = conv2d_im2col(x, h, memory_budget=budget)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak - out.nbytes <= budget


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_threads_agree_and_stay_within_the_budget(monkeypatch, cores):
    monkeypatch.setattr(engine, "usable_cores", lambda: cores)
    x = RNG.random((40, 12, 12, 8), dtype=np.float32)
    h = RNG.random((3, 3, 8, 16), dtype=np.float32)
    b = RNG.random(16, dtype=np.float32)
    per_image = im2col_bytes_per_image(x.shape, h.shape, bias=True)
    budget = 5 * per_image + 2**16
    assert engine._batching(len(x), per_image, budget - 2**16, cores)[1] == cores
    tracemalloc.start()
    out = conv2d_im2col(x, h, b, memory_budget=budget)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak - out.nbytes <= budget
    np.testing.assert_allclose(out, conv2d(x, h, b), rtol=1e-5, atol=1e-5)


def test_an_error_in_a_thread_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    monkeypatch.setattr(engine, "windows", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        conv2d_im2col(np.ones((4, 5, 5, 1)), np.ones((3, 3, 1, 1)), memory_budget=2**16 + 2 * 9 * 9 * 8)


def test_padding_is_within_the_budget_too():
    x = RNG.random((50, 28, 28, 1), dtype=np.float32)
    h = RNG.random((5, 5, 1, 8), dtype=np.float32)
    per_image = im2col_bytes_per_image(x.shape, h.shape, 1, "same")
    assert per_image == (28 * 28 * 25 + 32 * 32) * 4
    tracemalloc.start()
    budget = 3 * per_image + 2**16
    out = conv2d_im2col(x, h, padding="same", memory_budget=budget)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak - out.nbytes <= budget


@pytest.mark.parametrize("cores", [1, 2])
def test_batch_plan_is_what_conv2d_im2col_allocates(monkeypatch, cores):
    """The plan's scratch bytes bound what the call really holds at its peak (tracemalloc)
    and batches stay cache-sized under a huge budget. With one thread the bound is also
    tight (not wildly pessimistic: the ReLU's zeros are counted per image but shared); with
    two, whether their scratch is live at the same moment depends on the scheduler (a CI
    run saw half), so only one thread's share is certain."""
    monkeypatch.setattr(engine, "usable_cores", lambda: cores)
    x = RNG.random((40, 26, 26, 32), dtype=np.float32)
    h = RNG.random((3, 3, 32, 64), dtype=np.float32)
    b = RNG.random(64, dtype=np.float32)
    plan = engine.batch_plan(x.shape, h.shape, bias=True, activation="relu", memory_budget=2**30)
    assert plan.threads == cores and plan.images * plan.per_image <= engine._CACHE_BLOCK_BYTES
    tracemalloc.start()
    out = conv2d_im2col(x, h, b, activation="relu", memory_budget=2**30)
    peak = tracemalloc.get_traced_memory()[1] - out.nbytes
    tracemalloc.stop()
    assert 0.75 * plan.scratch_bytes / plan.threads <= peak <= plan.scratch_bytes


@pytest.mark.parametrize("memory_budget", ["64MB", 64e6, None])
def test_a_budget_that_is_not_a_whole_number_of_bytes_is_a_clear_error(memory_budget):
    with pytest.raises(ValueError, match="memory_budget: expected an integer"):
        conv2d_im2col(np.zeros((2, 8, 8, 1)), np.zeros((3, 3, 1, 2)), memory_budget=memory_budget)


def test_batch_plan_names_a_wrong_shape():
    with pytest.raises(ValueError, match=r"x_shape, h_shape: expected \(N, W, W, K\)"):
        engine.batch_plan((8, 8, 1), (3, 3, 1, 2))


def test_too_small_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="memory_budget: one image needs 663,552 bytes"):
        conv2d_im2col(np.zeros((2, 26, 26, 32), np.float32), np.zeros((3, 3, 32, 64), np.float32),
                      memory_budget=1000)


@pytest.mark.parametrize("kwargs, message", [
    ({"x": np.zeros((5, 5, 2)), "h": np.zeros((3, 3, 1, 4))}, "h:"),
    ({"x": np.zeros((3, 3, 1)), "h": np.zeros((5, 5, 1, 1))}, "H:"),
    ({"x": np.zeros((5, 5, 1)), "h": np.zeros((3, 3, 1, 1)), "stride": 0}, "stride:"),
    ({"x": np.zeros((5, 5, 1)), "h": np.zeros((3, 3, 1, 1)), "padding": "full"}, "padding:"),
    ({"x": np.zeros((5, 5)), "h": np.zeros((3, 3, 1, 1))}, "x:"),
    ({"x": np.zeros((5, 5, 1)), "h": np.zeros((3, 3, 1, 1)), "activation": "sigmoid"}, "activation:"),
])
def test_same_errors_as_conv2d(kwargs, message):
    for function in (conv2d, conv2d_im2col):
        with pytest.raises(ValueError, match=message):
            function(**kwargs)


def test_reproduces_the_trained_network(mnist):
    from course_utils.activations import layer_outputs
    from course_utils.data import scale_images
    from course_utils.models import trained_source_cnn

    model, _ = trained_source_cnn(train=False)
    _, (x_test, _) = mnist
    digits = scale_images(x_test[:200])
    keras_out = layer_outputs(model, digits, ["conv1", "conv2"])
    h1, b1 = model.get_layer("conv1").get_weights()
    h2, b2 = model.get_layer("conv2").get_weights()
    z1 = np.maximum(conv2d_im2col(digits, h1, b1), 0)
    z2 = np.maximum(conv2d_im2col(z1, h2, b2), 0)
    assert np.abs(z1 - keras_out["conv1"]).max() <= 1e-4
    assert np.abs(z2 - keras_out["conv2"]).max() <= 1e-4


def _input_gradient_loops(du, x_shape, h):
    """dL/dx[n, i+p, j+q, k] += du[n, i, j, m] * h[p, q, k, m]: the chain rule, as loops."""
    dx = np.zeros(x_shape)
    H, W_out = h.shape[0], du.shape[1]
    for n in range(du.shape[0]):
        for i in range(W_out):
            for j in range(W_out):
                dx[n, i:i + H, j:j + H, :] += h @ du[n, i, j]
    return dx


def test_gradient_checker_accepts_loops_and_names_mistakes():
    assert checks.check_conv2d_input_gradient(_input_gradient_loops).passed
    flipped = checks.check_conv2d_input_gradient(lambda du, s, h: _input_gradient_loops(du, s, h[::-1, ::-1]))
    assert "flipped" in flipped.message
    wrong_shape = checks.check_conv2d_input_gradient(lambda du, s, h: np.zeros(du.shape))
    assert "expected an array of shape" in wrong_shape.message
    crashed = checks.check_conv2d_input_gradient(lambda du, s, h: du @ h)
    assert "raised" in crashed.message or "shape" in crashed.message


# --- rectangular images, out=, BLAS threads, cores ----------------------------------------

@pytest.mark.parametrize("stride, padding, cores", [(1, "valid", 1), (2, "same", 2), (1, 2, 2), (3, "valid", 1)])
def test_rectangular_images_match_tensorflow(monkeypatch, stride, padding, cores):
    import tensorflow as tf

    monkeypatch.setattr(engine, "usable_cores", lambda: cores)
    x = RNG.normal(size=(5, 9, 14, 2)).astype(np.float32)
    h = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)
    b = RNG.normal(size=4).astype(np.float32)
    if isinstance(padding, int):   # tf.nn.conv2d takes explicit pads as pairs per axis
        tf_padding = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    else:
        tf_padding = padding.upper()
    expected = tf.nn.relu(tf.nn.conv2d(x, h, strides=stride, padding=tf_padding) + b).numpy()
    assert expected.shape[1] != expected.shape[2]
    one_image = im2col_bytes_per_image(x.shape, h.shape, stride, padding, bias=True, activation="relu") + 2**16
    for memory_budget in (one_image, DEFAULT_MEMORY_BUDGET):
        got = conv2d_im2col(x, h, b, stride, padding, activation="relu", memory_budget=memory_budget)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv2d(x, h, b, stride, padding, activation="relu"), expected, rtol=1e-5, atol=1e-5)


def test_out_is_filled_and_returned():
    x = RNG.normal(size=(4, 8, 8, 2)).astype(np.float32)
    h = RNG.normal(size=(3, 3, 2, 3)).astype(np.float32)
    b = RNG.normal(size=3).astype(np.float32)
    out = np.full((4, 6, 6, 3), np.nan, np.float32)
    for _ in range(2):   # a second call overwrites the first one's result, ReLU included
        got = conv2d_im2col(x, h, b, activation="relu", out=out)
        assert got is out
        np.testing.assert_allclose(out, conv2d(x, h, b, activation="relu"), rtol=1e-5, atol=1e-5)
        x = -x
    single = np.empty((1, 6, 6, 3), np.float32)
    np.testing.assert_allclose(conv2d_im2col(x[0], h, out=single), conv2d(x[0], h), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("out", [np.zeros((4, 6, 6, 2), np.float32), np.zeros((4, 6, 6, 3)),
                                 np.zeros((4, 6, 6, 6), np.float32)[..., ::2], [[0.0]]])
def test_a_wrong_out_is_named(out):
    x, h = np.zeros((4, 8, 8, 2), np.float32), np.zeros((3, 3, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"out: expected a C-contiguous NumPy array of shape \(4, 6, 6, 3\)"):
        conv2d_im2col(x, h, out=out)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_overlapping_calls_leave_blas_threads_as_they_were(monkeypatch):
    """Four callers at once, each with two threads: every thread waits inside the engine
    until all eight are there, so all four calls overlap; whichever leaves last, BLAS must
    end with the thread count it had before (a process-wide ``threadpool_limits`` per call
    restores the 1 it found whenever the first caller to enter is not the last to leave)."""
    import threading

    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    callers = 4
    x = RNG.random((4, 6, 6, 1), dtype=np.float32)
    h = RNG.random((3, 3, 1, 2), dtype=np.float32)
    budget = 2 * im2col_bytes_per_image(x.shape, h.shape) + 2**16   # one image per batch, two threads
    assert engine.batch_plan(x.shape, h.shape, memory_budget=budget).threads == 2
    expected = conv2d(x, h)
    real_windows = engine.windows

    with threadpool_limits(limits=3, user_api="blas"):
        before = _blas_threads()
        assert before and set(before) == {3}
        for _ in range(12):
            barrier = threading.Barrier(2 * callers, timeout=20)

            def windows_once_all_are_inside(*args):
                barrier.wait()
                return real_windows(*args)

            monkeypatch.setattr(engine, "windows", windows_once_all_are_inside)
            results = [None] * callers

            def call(k):
                results[k] = conv2d_im2col(x, h, memory_budget=budget)

            threads = [threading.Thread(target=call, args=(k,)) for k in range(callers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert all(np.allclose(r, expected) for r in results)
            assert _blas_threads() == before
            assert engine._blas_state["callers"] == 0


@pytest.fixture
def eight_cores(monkeypatch, tmp_path):
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/\n")
    return proc


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cores_without_a_cgroup_quota_are_the_affinity(tmp_path, eight_cores):
    assert engine.cgroup_cpu_quota(tmp_path / "no-cgroup", eight_cores) is None
    assert engine.usable_cores(tmp_path / "no-cgroup", eight_cores) == 8
    _write(tmp_path / "v2" / "cpu.max", "max 100000\n")
    assert engine.usable_cores(tmp_path / "v2", eight_cores) == 8
    _write(tmp_path / "v1" / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "v1" / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert engine.usable_cores(tmp_path / "v1", eight_cores) == 8


@pytest.mark.parametrize("quota, cores", [("150000 100000", 2), ("50000 100000", 1), ("300000 100000", 3),
                                          ("2000000 100000", 8)])
def test_cores_respect_a_cgroup_v2_quota(tmp_path, eight_cores, quota, cores):
    _write(tmp_path / "cpu.max", quota + "\n")
    assert engine.cgroup_cpu_quota(tmp_path, eight_cores) == int(quota.split()[0]) / 100000
    assert engine.usable_cores(tmp_path, eight_cores) == cores


def test_cores_respect_the_quota_of_the_process_own_cgroup(tmp_path, eight_cores):
    _write(tmp_path / "cpu.max", "max 100000\n")
    _write(tmp_path / "user.slice" / "course" / "cpu.max", "200000 100000\n")
    eight_cores.write_text("0::/user.slice/course\n")
    assert engine.usable_cores(tmp_path, eight_cores) == 2


def test_cores_respect_a_cgroup_v1_quota(tmp_path, eight_cores):
    _write(tmp_path / "cpu" / "cpu.cfs_quota_us", "250000\n")
    _write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert engine.usable_cores(tmp_path, eight_cores) == 3
    plan = engine.batch_plan((100, 26, 26, 32), (3, 3, 32, 64), cores=engine.usable_cores(tmp_path, eight_cores))
    assert plan.threads == 3


@pytest.mark.parametrize("cores", [16, 64, 256])
def test_many_cores_get_batches_of_one_image_per_four_threads_within_the_budget(cores):
    plan = engine.batch_plan((10000, 26, 26, 32), (3, 3, 32, 64), bias=True, activation="relu", cores=cores)
    assert 1 < plan.threads <= cores
    assert plan.images >= -(-plan.threads // 4)
    assert plan.scratch_bytes <= DEFAULT_MEMORY_BUDGET
    two = engine.batch_plan((10000, 26, 26, 32), (3, 3, 32, 64), bias=True, activation="relu", cores=2)
    assert (two.images, two.threads) == (2, 2)   # a reader's 2 cores: cache-sized batches
