"""Loading and preparing MNIST: the one place in the course that reads the data set.

Where the data comes from, in order:

1. the ``path`` argument of :func:`load_mnist`;
2. the ``MNIST_PATH`` environment variable;
3. ``keras.datasets.mnist.load_data()``, which downloads and caches the file
   (Colab, Binder, a laptop with internet).

Files are read with ``allow_pickle=False`` and validated before anything is returned.
"""

from __future__ import annotations

import os

import numpy as np

ENV_VAR = "MNIST_PATH"
NUM_CLASSES = 10
IMAGE_SIDE = 28
# key -> expected shape, as keras.datasets.mnist.load_data() returns them.
EXPECTED_SHAPES = {
    "x_train": (60000, IMAGE_SIDE, IMAGE_SIDE),
    "y_train": (60000,),
    "x_test": (10000, IMAGE_SIDE, IMAGE_SIDE),
    "y_test": (10000,),
}
HOW_TO_FIX = (
    "Pass load_mnist(path='/path/to/mnist.npz') or set the environment variable "
    f"{ENV_VAR}=/path/to/mnist.npz to a copy of the file that "
    "keras.datasets.mnist.load_data() downloads (keys x_train, y_train, x_test, y_test)."
)


class MnistDataError(RuntimeError):
    """MNIST could not be loaded; the message names the file and says how to fix it."""


def load_mnist(path: str | os.PathLike | None = None):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, exactly like Keras.

    Parameters
    ----------
    path : str or path-like, optional
        An ``mnist.npz`` file. When omitted, ``$MNIST_PATH`` is used, and when that is
        unset too, Keras downloads (or reuses its cached copy of) the file.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : uint8 arrays
        Shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Raises
    ------
    MnistDataError
        If the file is missing, unreadable or not MNIST, or the download fails.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, y_train[:5]                             # doctest: +SKIP
    ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    if path is not None:
        return _load_npz(os.fspath(path), origin="the path argument")
    env_path = os.environ.get(ENV_VAR, "").strip()
    if env_path:
        return _load_npz(env_path, origin=f"${ENV_VAR}")
    return _load_from_keras()


def _load_npz(path: str, origin: str):
    where = f"MNIST file {path!r} (from {origin})"
    if not os.path.isfile(path):
        relative = "" if os.path.isabs(path) else f" (a relative path is read from {os.getcwd()!r})"
        raise MnistDataError(f"{where} does not exist{relative}. {HOW_TO_FIX}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise MnistDataError(f"{where} is a single .npy array, not an .npz archive. {HOW_TO_FIX}")
            missing = [key for key in EXPECTED_SHAPES if key not in npz.files]
            if missing:
                raise MnistDataError(
                    f"{where} lacks the keys {missing}; it has {sorted(npz.files)}. {HOW_TO_FIX}"
                )
            arrays = {key: npz[key] for key in EXPECTED_SHAPES}
    except MnistDataError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy and OS errors all mean "unreadable"
        raise MnistDataError(
            f"{where} could not be read ({type(exc).__name__}: {exc}); it may be truncated "
            f"or corrupt. {HOW_TO_FIX}"
        ) from None
    _validate(arrays, where)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_from_keras():
    try:
        from keras.datasets import mnist

        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except Exception as exc:  # no network, a broken cache, a proxy page instead of the file
        raise MnistDataError(
            f"keras.datasets.mnist.load_data() failed ({type(exc).__name__}: {exc}). "
            f"Without internet, {HOW_TO_FIX}"
        ) from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    _validate(arrays, "MNIST from keras.datasets.mnist.load_data()")
    return (x_train, y_train), (x_test, y_test)


def _validate(arrays: dict, where: str) -> None:
    for key, shape in EXPECTED_SHAPES.items():
        array = arrays[key]
        if array.shape != shape:
            raise MnistDataError(f"{where}: {key} has shape {array.shape}, expected {shape}. {HOW_TO_FIX}")
        if array.dtype != np.uint8:
            raise MnistDataError(f"{where}: {key} has dtype {array.dtype}, expected uint8. {HOW_TO_FIX}")
    for key in ("y_train", "y_test"):
        if arrays[key].max() >= NUM_CLASSES:
            raise MnistDataError(
                f"{where}: {key} holds the label {int(arrays[key].max())}, expected 0 to 9. {HOW_TO_FIX}"
            )


def scale_images(x: np.ndarray) -> np.ndarray:
    """Turn uint8 images (N, 28, 28) into the model's input: float32 (N, 28, 28, 1) in [0, 1].

    Examples
    --------
    >>> scale_images(np.full((2, 28, 28), 255, np.uint8)).shape
    (2, 28, 28, 1)
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"x: expected images of shape (N, 28, 28), got shape {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"x: expected dtype uint8 (pixel values 0 to 255), got {x.dtype}")
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]


def one_hot(y: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Turn integer labels (N,) into float32 one-hot rows (N, num_classes).

    Examples
    --------
    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y: expected labels of shape (N,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y: expected integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"y: expected labels from 0 to {num_classes - 1}, got values from {y.min()} to {y.max()}"
        )
    return np.eye(num_classes, dtype=np.float32)[y]


def prepare_mnist(path: str | os.PathLike | None = None):
    """Load MNIST and prepare it as the source article does.

    Returns ``(x_train, y_train), (x_test, y_test)`` with images float32
    (N, 28, 28, 1) in [0, 1] and labels one-hot float32 (N, 10).
    """
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    return (scale_images(x_train), one_hot(y_train)), (scale_images(x_test), one_hot(y_test))
