"""The source article's MNIST CNN, the MLP it was compared with, and their trained runs.

A *run* is a folder holding ``model.weights.h5`` and ``run.json`` (configuration,
per-epoch history, test metrics, environment, and the weights' sha256). Two places hold
runs of the source CNN:

- the committed reference run, ``course_utils/reference/source_cnn`` (``make reproduce``);
- a local cache of a run trained by a chapter, ``$CNN_COURSE_CACHE`` or
  ``~/.cache/cnn-course``.

:func:`trained_source_cnn` loads the cache when it matches the configuration, else the
reference run, and trains for real when ``CNN_COURSE_TRAIN=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers

from course_utils import run_store
from course_utils.run_store import RunFileError, TrainingConfig  # noqa: F401  (re-exported)

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
TRAIN_ENV_VAR = "CNN_COURSE_TRAIN"
CACHE_ENV_VAR = "CNN_COURSE_CACHE"

# The source's schedule: Adadelta with standalone Keras 2's default learning rate of 1.0.
SOURCE_CONFIG = TrainingConfig(architecture="source_cnn", epochs=20, batch_size=128,
                               validation_split=0.1, learning_rate=1.0, seed=2017)
MLP_CONFIG = TrainingConfig(architecture="mlp", epochs=20, batch_size=128,
                            validation_split=0.1, learning_rate=1.0, seed=2017)
SMALL_CONFIG = TrainingConfig(architecture="small_cnn", epochs=20, batch_size=128,
                              validation_split=0.1, learning_rate=1.0, seed=2017)


def build_source_cnn(learning_rate: float = 1.0, compiled: bool = True) -> keras.Sequential:
    """The source's CNN, compiled with Adadelta as in the source.

    The source wrote ``Adadelta()`` in standalone Keras 2, whose default learning rate
    was 1.0; ``tf.keras`` has defaulted to 0.001 since TensorFlow 2.0, and Keras 3 kept
    0.001, so the rate is passed explicitly. ``compiled=False`` returns the bare
    architecture. Chapter 6 writes the same stack out as a ``keras.Sequential([...])``
    cell; ``tests/test_models.py`` keeps the two identical, layer for layer.

    Examples
    --------
    >>> build_source_cnn().count_params()
    1199882
    """
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1), name="image"),
        layers.Conv2D(32, (3, 3), activation="relu", name="conv1"),
        layers.Conv2D(64, (3, 3), activation="relu", name="conv2"),
        layers.MaxPooling2D((2, 2), name="pool"),
        layers.Dropout(0.25, name="dropout1"),
        layers.Flatten(name="flatten"),
        layers.Dense(128, activation="relu", name="dense1"),
        layers.Dropout(0.5, name="dropout2"),
        layers.Dense(10, activation="softmax", name="output"),
    ], name="source_cnn")
    return compile_model(model, learning_rate) if compiled else model


def build_mlp(learning_rate: float = 1.0, compiled: bool = True) -> keras.Sequential:
    """A multi-layer perceptron baseline: 784-512-512-10 with dropout, Adadelta."""
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1), name="image"),
        layers.Flatten(name="flatten"),
        layers.Dense(512, activation="relu", name="dense1"),
        layers.Dropout(0.2, name="dropout1"),
        layers.Dense(512, activation="relu", name="dense2"),
        layers.Dropout(0.2, name="dropout2"),
        layers.Dense(10, activation="softmax", name="output"),
    ], name="mlp")
    return compile_model(model, learning_rate) if compiled else model


def build_small_cnn(learning_rate: float = 1.0, compiled: bool = True,
                    head: str = "flatten") -> keras.Sequential:
    """The course's recommended small MNIST CNN (chapter 10): common practice applied.

    Stacks of 3x3 filters, channels doubling (32 -> 64) as pooling halves the resolution,
    and a second pooling before the classifier so that the first Dense layer sees 4x4x64
    values instead of the source's 12x12x64. Same optimizer and dropout as the source.
    ``head="gap"`` replaces Flatten + Dense(128) + Dropout by global average pooling
    straight into the softmax layer (Network in Network's head).

    Examples
    --------
    >>> build_small_cnn().count_params()
    197482
    """
    if head not in ("flatten", "gap"):
        raise ValueError(f"head: expected 'flatten' or 'gap', got {head!r}")
    stack = [
        keras.Input(shape=(28, 28, 1), name="image"),
        layers.Conv2D(32, (3, 3), activation="relu", name="conv1"),
        layers.Conv2D(32, (3, 3), activation="relu", name="conv2"),
        layers.MaxPooling2D((2, 2), name="pool1"),
        layers.Conv2D(64, (3, 3), activation="relu", name="conv3"),
        layers.Conv2D(64, (3, 3), activation="relu", name="conv4"),
        layers.MaxPooling2D((2, 2), name="pool2"),
        layers.Dropout(0.25, name="dropout1"),
    ]
    if head == "flatten":
        stack += [layers.Flatten(name="flatten"),
                  layers.Dense(128, activation="relu", name="dense1"),
                  layers.Dropout(0.5, name="dropout2")]
    else:
        stack.append(layers.GlobalAveragePooling2D(name="gap"))
    stack.append(layers.Dense(10, activation="softmax", name="output"))
    model = keras.Sequential(stack, name="small_cnn" if head == "flatten" else "small_cnn_gap")
    return compile_model(model, learning_rate) if compiled else model


BUILDERS = {"source_cnn": build_source_cnn, "mlp": build_mlp, "small_cnn": build_small_cnn}


def compile_model(model, learning_rate: float = 1.0):
    """Compile as the source: categorical cross-entropy, Adadelta, accuracy.

    ``learning_rate`` defaults to 1.0, the default of ``Adadelta()`` in standalone
    Keras 2, which the source used; ``tf.keras`` (since TensorFlow 2.0) and Keras 3
    default to 0.001, with which this network barely learns in a few epochs.
    """
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adadelta(learning_rate=learning_rate),
                  metrics=["accuracy"])
    return model


def cache_dir() -> Path:
    """Where runs trained on this machine are cached."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "cnn-course")


def trained_model(config: TrainingConfig = SOURCE_CONFIG, train: bool | None = None, data=None,
                  verbose: int = 2):
    """Return ``(model, run)`` for ``config``, loading a stored run when one matches.

    Order: a valid local cache of the same configuration, then the committed reference
    run. With ``train=True`` (or ``CNN_COURSE_TRAIN=1``) the model is trained for real,
    evaluated, and cached. ``run`` is a dict with ``config``, ``history``, ``metrics``,
    ``environment``, ``source`` ("cache", "reference" or "trained now") and ``path``.
    A corrupt or mismatched cache is reported and ignored, never loaded.
    """
    if train is None:
        train = os.environ.get(TRAIN_ENV_VAR, "") not in ("", "0")
    if config.architecture not in BUILDERS:
        raise ValueError(f"config.architecture: expected one of {sorted(BUILDERS)}, got {config.architecture!r}")
    builder = BUILDERS[config.architecture]
    cached = cache_dir() / config.key()
    if train:
        from course_utils.data import prepare_mnist

        model, run = run_store.train_and_evaluate(builder, config, data or prepare_mnist(), verbose)
        run_store.save_run(cached, model, run, builder)
        return model, dict(run, source="trained now", path=str(cached))
    for source, folder in (("cache", cached), ("reference", REFERENCE_DIR / config.architecture)):
        if not (folder / run_store.MANIFEST).exists():
            continue
        try:
            model, run = run_store.load_run(folder, builder, config)
        except RunFileError as error:
            print(f"Ignoring the stored run in {folder}: {error}")
            continue
        return model, dict(run, source=source, path=str(folder))
    raise RunFileError(
        f"No stored run of {config.architecture} matches {config}. "
        f"Train one with {TRAIN_ENV_VAR}=1 or `make reproduce`.")


def trained_source_cnn(train: bool | None = None, data=None, verbose: int = 2):
    """The source CNN trained as in the source; see :func:`trained_model`."""
    return trained_model(SOURCE_CONFIG, train=train, data=data, verbose=verbose)
