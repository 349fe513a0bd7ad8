"""Training runs: train, evaluate, save and load a model with its history and metrics.

A run folder holds ``model.weights.h5`` and ``run.json``. Both are written atomically
(``course_utils.atomic_files``), ``run.json`` last, and ``run.json`` records the sha256 of the weights:
an interrupted save or a swapped weights file is detected on load.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from course_utils.atomic_files import atomic_path, write_atomic

MANIFEST = "run.json"
WEIGHTS = "model.weights.h5"
FORMAT_VERSION = 1


class RunFileError(RuntimeError):
    """A stored run is missing, corrupt, or belongs to another configuration."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run. ``train_limit`` None means all 60,000 images."""

    architecture: str
    epochs: int
    batch_size: int
    validation_split: float
    learning_rate: float
    seed: int
    train_limit: int | None = None

    def key(self) -> str:
        """A folder name unique to this configuration."""
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        return f"{self.architecture}-{digest.hexdigest()[:12]}"


def _training_threads(tf) -> int:
    """TensorFlow's threads per operation: a run on a Dask worker of its own core trains on
    one, so its seconds are not comparable with a run on every core."""
    setting = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    return (int(setting) if setting.isdigit() else 0) or \
        tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def environment(seconds: float) -> dict:
    import keras
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "threads": _training_threads(tf),
        "seconds": round(seconds, 1),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def train_and_evaluate(builder, config: TrainingConfig, data, verbose: int = 2):
    """Train ``builder(config.learning_rate)`` on ``data`` and evaluate on the test set.

    ``data`` is ``(x_train, y_train), (x_test, y_test)`` as prepared by
    ``course_utils.data.prepare_mnist``. Returns ``(model, run)``.
    """
    import keras

    (x_train, y_train), (x_test, y_test) = data
    if config.train_limit is not None:
        x_train, y_train = x_train[:config.train_limit], y_train[:config.train_limit]
    keras.utils.set_random_seed(config.seed)
    model = builder(config.learning_rate)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs,
                        validation_split=config.validation_split, verbose=verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    run = {
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(config),
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "metrics": {"test_loss": float(loss), "test_accuracy": float(accuracy)},
        "parameters": int(model.count_params()),
        "environment": environment(seconds),
    }
    return model, run


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_run(folder: Path, model, run: dict, builder) -> None:
    """Write the weights, then the manifest, each atomically (``course_utils.atomic_files``).

    The weights are saved from an uncompiled copy built by ``builder``: a compiled model
    would also save the optimizer's slots (three times the size for Adadelta).
    """
    folder = Path(folder)
    bare = builder(compiled=False)
    bare.set_weights(model.get_weights())
    with atomic_path(folder / WEIGHTS) as tmp_weights:
        bare.save_weights(tmp_weights)
        manifest = dict(run, weights_sha256=_sha256(tmp_weights))
        # Remove the old manifest first: between the two renames no valid run exists.
        (folder / MANIFEST).unlink(missing_ok=True)
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFileError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(run, dict) or run.get("format_version") != FORMAT_VERSION:
        raise RunFileError(f"{path} is not a run manifest of format version {FORMAT_VERSION}")
    return run


def load_run(folder: Path, builder, config: TrainingConfig):
    """Load a run saved by :func:`save_run`, checking it matches ``config``. Returns (model, run)."""
    folder = Path(folder)
    run = read_manifest(folder)
    if run.get("config") != dataclasses.asdict(config):
        raise RunFileError(f"it was trained with {run.get('config')}, not {dataclasses.asdict(config)}")
    weights = folder / WEIGHTS
    if not weights.is_file() or _sha256(weights) != run.get("weights_sha256"):
        raise RunFileError(f"{weights} is missing or does not match the checksum in {MANIFEST}")
    # The file holds the layers' weights only: load them into an uncompiled model (a compiled
    # one warns that the optimizer's state is missing), then hand them to a compiled twin.
    bare = builder(config.learning_rate, compiled=False)
    try:
        bare.load_weights(weights)
    except Exception as exc:  # a file of another architecture, or an h5 the library rejects
        raise RunFileError(f"{weights} does not fit {config.architecture} ({exc})") from None
    model = builder(config.learning_rate)
    model.set_weights(bare.get_weights())
    return model, run


def describe(run: dict) -> str:
    """One line saying where a run's numbers come from, for every output that shows them."""
    env = run["environment"]
    source = run.get("source")
    if source == "trained now":
        origin = "trained just now in this session"
    elif source == "reference":
        origin = f"loaded from the committed reference run course_utils/reference/{run['config']['architecture']}"
    else:
        origin = f"loaded from the local cache {run.get('path')}"
    return (f"[{origin}; made {env['finished_utc']} with TensorFlow {env['tensorflow']}, "
            f"Keras {env['keras']} on {env['device']} ({env['machine']}) in {env['seconds']:.0f} s]")
