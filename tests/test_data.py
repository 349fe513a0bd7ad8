"""The MNIST loader: the happy path on the real file, and every failure as a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import data
from course_utils.data import MnistDataError, load_mnist, one_hot, scale_images


def test_real_file_has_keras_shapes_dtypes_and_labels(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert [a.shape for a in (x_train, y_train, x_test, y_test)] == [
        (60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # Facts of the official files, independent of our loader (see the data README).
    assert y_test[[0, 3, 11]].tolist() == [7, 0, 6]
    assert x_train.max() == 255 and x_train.min() == 0
    assert np.isclose(x_train.mean() / 255, 0.1307, atol=1e-4)
    assert np.isclose((x_train / 255).std(), 0.3081, atol=1e-4)


def test_env_var_is_used_when_no_path_given(mnist_path, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", mnist_path)
    (_, y_train), _ = load_mnist()
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]


def test_path_argument_wins_over_env_var(mnist_path, monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    (_, y_train), _ = load_mnist(mnist_path)
    assert y_train.shape == (60000,)


def _expect_clear_error(path, *fragments):
    with pytest.raises(MnistDataError) as info:
        load_mnist()
    message = str(info.value)
    assert str(path) in message and "MNIST_PATH" in message
    for fragment in fragments:
        assert fragment in message, message
    # The error is raised on its own, not chained to a zipfile or numpy traceback.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_missing_file(monkeypatch, tmp_path):
    path = tmp_path / "missing.npz"
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, "does not exist")


def test_truncated_file(mnist_path, monkeypatch, tmp_path):
    path = tmp_path / "truncated.npz"
    with open(mnist_path, "rb") as source:
        path.write_bytes(source.read(5_000_000))
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, "truncated or corrupt")


def test_file_that_is_not_an_archive(monkeypatch, tmp_path):
    path = tmp_path / "page.npz"
    path.write_text("<html>Please sign in</html>")
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, "could not be read")


def test_wrong_keys(monkeypatch, tmp_path):
    path = tmp_path / "wrong_keys.npz"
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros(2, np.uint8))
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, "lacks the keys", "x_train")


def _fake_mnist(**override):
    arrays = {key: np.zeros(shape, np.uint8) for key, shape in data.EXPECTED_SHAPES.items()}
    arrays.update(override)
    return arrays


@pytest.mark.parametrize("override, fragment", [
    ({"x_train": np.zeros((60000, 32, 32), np.uint8)}, "x_train has shape (60000, 32, 32)"),
    ({"y_test": np.zeros((10000, 1), np.uint8)}, "y_test has shape (10000, 1)"),
    ({"x_test": np.zeros((10000, 28, 28), np.float32)}, "x_test has dtype float32"),
    ({"y_train": np.full(60000, 10, np.uint8)}, "label 10"),
])
def test_wrong_shapes_dtypes_and_labels(monkeypatch, tmp_path, override, fragment):
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **_fake_mnist(**override))
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, fragment)


def test_pickled_arrays_are_refused(monkeypatch, tmp_path):
    arrays = _fake_mnist()
    arrays["x_train"] = np.array([object()] * 3, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    monkeypatch.setenv("MNIST_PATH", str(path))
    _expect_clear_error(path, "could not be read")


def test_failed_download_says_how_to_work_offline(monkeypatch):
    monkeypatch.delenv("MNIST_PATH", raising=False)
    from keras.datasets import mnist as keras_mnist

    def no_network():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras_mnist, "load_data", no_network)
    with pytest.raises(MnistDataError, match="MNIST_PATH") as info:
        load_mnist()
    assert "no network" in str(info.value)


def test_preprocessing_matches_keras(mnist):
    import keras

    (x_train, y_train), _ = mnist
    x = scale_images(x_train[:100])
    assert x.shape == (100, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0] * 255, x_train[:100].astype(np.float32))
    np.testing.assert_array_equal(one_hot(y_train[:100]), keras.utils.to_categorical(y_train[:100], 10))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((28, 28), np.uint8), "shape"),
    (np.zeros((2, 28, 28), np.float32), "uint8"),
])
def test_scale_images_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        scale_images(bad)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1, 2]]), "shape"),
    (np.array([0.5]), "integer"),
    (np.array([3, 10]), "0 to 9"),
    (np.array([-1]), "0 to 9"),
])
def test_one_hot_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        one_hot(bad)


def test_relative_missing_path_says_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_PATH", "data/mnist.npz")
    with pytest.raises(MnistDataError, match="relative path is read from"):
        load_mnist()
