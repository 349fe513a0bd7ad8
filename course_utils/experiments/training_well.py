"""The measured runs of the chapter "Training well": what each run trains and how.

Four experiments, each a set of named runs (:data:`RUNS`) trained with fixed seeds:

- ``lr``: a learning-rate sweep on a log scale for SGD, SGD with momentum, Adam and
  Adadelta on the source model, and for SGD on the source model with batch normalisation
  after each conv layer (its learning-rate range);
- ``overfit``: the source model without dropout on 2,000 images, long enough to overfit,
  and the same with one remedy each (the source's dropout, L2 weight decay, early stopping,
  random shifts), three seeds each; every run is also tested on digits shifted by 1 to 3
  pixels (chapter 4's curve);
- ``depth``: a plain stack of 3x3 conv layers against a residual stack of the same depth.

Validation images are the last ones of MNIST's training set; they are never trained on.
Each run is stored as one JSON file (schedule, seed, history, environment) by
``scripts/run_experiments.py --training-well``; the committed results are package data in
:data:`RESULTS_DIR`, which the chapter reads.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from course_utils import run_store
from course_utils.atomic_files import read_record

RESULTS_DIR = Path(__file__).resolve().parents[1] / "reference" / "training_well"
FORMAT_VERSION = 1
LEARNING_RATES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
OPTIMIZERS = ("sgd", "momentum", "adam", "adadelta")
OVERFIT_SEEDS = (0, 1, 2)
DEPTHS = (4, 8, 16, 32)
DEPTH_SEEDS = (0, 1)
L2_FACTOR = 1e-3
SHIFT_FRACTION = 0.1      # RandomTranslation: up to 10 % of 28 pixels, 2.8, either way
WIDTH = 16                # channels of every conv layer of the depth experiment


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which images a run learns from, for how long; the validation images come from the
    end of the training set, so they never overlap the first ``train_images``."""

    train_images: int
    validation_images: int
    epochs: int
    batch_size: int = 128


SCHEDULES = {
    "lr": Schedule(train_images=4_000, validation_images=2_000, epochs=3),
    "overfit": Schedule(train_images=2_000, validation_images=2_000, epochs=30),
    "depth": Schedule(train_images=4_000, validation_images=2_000, epochs=3),
}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One model and optimiser of an experiment. The defaults are the source's recipe."""

    experiment: str
    optimizer: str = "adadelta"
    learning_rate: float = 1.0
    dropout: bool = True
    batchnorm: bool = False
    l2: float = 0.0
    shift: float = 0.0
    early_stopping: bool = False
    depth: int = 0              # > 0: the depth experiment's stack of this many conv layers
    residual: bool = False


def _lr_runs() -> dict[str, RunSpec]:
    found = {}
    for lr in LEARNING_RATES:
        for opt in OPTIMIZERS:
            found[f"lr-{opt}-{lr:g}"] = RunSpec("lr", optimizer=opt, learning_rate=lr)
        found[f"lr-sgd-bn-{lr:g}"] = RunSpec("lr", optimizer="sgd", learning_rate=lr, batchnorm=True)
    return found


def _overfit_runs() -> dict[str, RunSpec]:
    plain = dict(experiment="overfit", dropout=False)
    return {
        "overfit-none": RunSpec(**plain),
        "overfit-dropout": RunSpec(**dict(plain, dropout=True)),
        "overfit-l2": RunSpec(**plain, l2=L2_FACTOR),
        "overfit-early-stopping": RunSpec(**plain, early_stopping=True),
        "overfit-shift": RunSpec(**plain, shift=SHIFT_FRACTION),
    }


def _depth_runs() -> dict[str, RunSpec]:
    return {f"depth-{'residual' if res else 'plain'}-{d}": RunSpec("depth", optimizer="adam", learning_rate=1e-3,
                                                                  depth=d, residual=res)
            for d in DEPTHS for res in (False, True)}


RUNS = {**_lr_runs(), **_overfit_runs(), **_depth_runs()}
SEEDS = {"lr": (0,), "overfit": OVERFIT_SEEDS, "depth": DEPTH_SEEDS}


def planned_runs() -> list[tuple[str, int]]:
    """Every (run, seed) pair, the longest experiment first."""
    order = ("overfit", "depth", "lr")
    return [(name, seed) for exp in order for seed in SEEDS[exp]
            for name, spec in RUNS.items() if spec.experiment == exp]


def optimizer(name: str, learning_rate: float):
    """A Keras optimiser by the chapter's name for it (Keras' defaults otherwise)."""
    import keras

    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adadelta":
        return keras.optimizers.Adadelta(learning_rate)
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")


def build_source_variant(spec: RunSpec):
    """The source CNN with the changes ``spec`` names (uncompiled)."""
    import keras
    from keras import layers

    reg = keras.regularizers.L2(spec.l2) if spec.l2 else None
    stack = [keras.Input(shape=(28, 28, 1), name="image")]
    if spec.shift:
        stack.append(layers.RandomTranslation(spec.shift, spec.shift, fill_mode="constant", name="shift"))
    for i, m in enumerate((32, 64), start=1):
        if spec.batchnorm:   # conv, then normalise, then ReLU (the conv's bias is redundant)
            stack += [layers.Conv2D(m, 3, use_bias=False, name=f"conv{i}"),
                      layers.BatchNormalization(name=f"bn{i}"), layers.Activation("relu", name=f"relu{i}")]
        else:
            stack.append(layers.Conv2D(m, 3, activation="relu", kernel_regularizer=reg, name=f"conv{i}"))
    stack.append(layers.MaxPooling2D(2, name="pool"))
    stack += [layers.Dropout(0.25, name="dropout1")] if spec.dropout else []
    stack += [layers.Flatten(name="flatten"), layers.Dense(128, activation="relu", kernel_regularizer=reg,
                                                           name="dense1")]
    stack += [layers.Dropout(0.5, name="dropout2")] if spec.dropout else []
    stack.append(layers.Dense(10, activation="softmax", kernel_regularizer=reg, name="output"))
    return keras.Sequential(stack, name="source_variant")


def build_stack(depth: int, residual: bool, width: int = WIDTH):
    """``depth`` 3x3 conv layers of ``width`` channels after a stride-2 stem (14x14 maps),
    then Flatten and a softmax layer. ``residual`` groups them in pairs, each pair's input
    added to its output before the ReLU: relu(x + conv(relu(conv(x)))) (He et al. 2016)."""
    import keras
    from keras import layers

    if depth < 2 or depth % 2:
        raise ValueError(f"depth: expected an even number of at least 2, got {depth!r}")
    image = keras.Input(shape=(28, 28, 1), name="image")
    h = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name="stem")(image)
    for i in range(1, depth + 1, 2):
        first = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(h)
        second = layers.Conv2D(width, 3, padding="same", name=f"conv{i + 1}")(first)
        h = layers.Activation("relu", name=f"relu{i + 1}")(layers.Add(name=f"add{i + 1}")([h, second])
                                                            if residual else second)
    out = layers.Dense(10, activation="softmax", name="output")(layers.Flatten(name="flatten")(h))
    return keras.Model(image, out, name=f"{'residual' if residual else 'plain'}_{depth}")


def build(spec: RunSpec):
    """The compiled Keras model of ``spec``."""
    model = build_stack(spec.depth, spec.residual) if spec.depth else build_source_variant(spec)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer(spec.optimizer, spec.learning_rate),
                  metrics=["accuracy"])
    return model


def _penalty_log():
    """A callback that records the L2 penalty lambda * sum(v^2) after every epoch: Keras adds
    it to both ``loss`` and ``val_loss``, so cross-entropies are compared without it."""
    import keras

    class PenaltyLog(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.values = []

        def on_epoch_end(self, epoch, logs=None):
            self.values.append(float(sum(float(loss) for loss in self.model.losses)))

    return PenaltyLog()


def cross_entropy(record: dict, key: str = "val_loss") -> list[float]:
    """Per-epoch ``key`` ("loss" or "val_loss") of a stored run without the L2 penalty that
    Keras adds to it: the cross-entropy alone, comparable between runs."""
    history = record["history"]
    if record["spec"]["l2"] and "penalty" not in history:
        raise ValueError(f"{record['run']} seed {record['seed']}: an L2 run stored without its penalty")
    penalty = history.get("penalty", [0.0] * len(history[key]))
    return [value - p for value, p in zip(history[key], penalty)]


def final_cross_entropy(record: dict) -> float:
    """The validation cross-entropy of a stored run's final weights, without the L2 penalty."""
    final = record["final"]
    if record["spec"]["l2"] and "penalty" not in final:
        raise ValueError(f"{record['run']} seed {record['seed']}: an L2 run stored without its penalty")
    return final["val_loss"] - final.get("penalty", 0.0)


def train_run(name: str, seed: int, data) -> dict:
    """Train run ``name`` with ``seed`` on prepared MNIST ``data``; return its record."""
    import keras
    import numpy as np

    from course_utils import shifted_digits

    spec, schedule = RUNS[name], SCHEDULES[RUNS[name].experiment]
    (x_train, y_train), (x_test, y_test) = data
    x_fit, y_fit = x_train[:schedule.train_images], y_train[:schedule.train_images]
    x_val, y_val = x_train[-schedule.validation_images:], y_train[-schedule.validation_images:]
    keras.utils.set_random_seed(seed)
    model = build(spec)
    penalty = _penalty_log()
    callbacks = [penalty] + ([keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)]
                             if spec.early_stopping else [])
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, batch_size=schedule.batch_size, epochs=schedule.epochs, verbose=0,
                        validation_data=(x_val, y_val), callbacks=callbacks)
    seconds = time.perf_counter() - start
    val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=1000, verbose=0)
    record = {
        "format_version": FORMAT_VERSION, "run": name, "seed": seed, "spec": dataclasses.asdict(spec),
        "schedule": dataclasses.asdict(schedule), "parameters": int(model.count_params()),
        "history": {**{k: [float(v) for v in vs] for k, vs in history.history.items()}, "penalty": penalty.values},
        "final": {"val_loss": float(val_loss), "val_accuracy": float(val_accuracy),
                  "penalty": float(sum(float(loss) for loss in model.losses)),
                  "epochs_trained": len(history.history["loss"])},
        "environment": run_store.environment(seconds),
    }
    if spec.experiment == "overfit":   # chapter 4's curve, on its 1,000 test digits that fit the frame
        labels = np.asarray(y_test).argmax(axis=1)
        record["test_shifted"] = shifted_digits.accuracy_under_shifts(model, x_test, labels, limit=1000)
    return record


def result_path(folder: Path, name: str, seed: int) -> Path:
    return Path(folder) / f"{name}-seed{seed}.json"


def read(path: Path) -> dict | None:
    """A stored run of the current plan, or None (missing, corrupt, another format or spec)."""
    record = read_record(path, FORMAT_VERSION)
    if record is None or record.get("run") not in RUNS:
        return None
    spec = RUNS[record["run"]]
    same = (record.get("spec") == dataclasses.asdict(spec)
            and record.get("schedule") == dataclasses.asdict(SCHEDULES[spec.experiment]))
    return record if same else None


class TrainingWellRunsMissing(FileNotFoundError):
    """No stored run of the chapter's plan."""


def load(folder: Path = RESULTS_DIR) -> list[dict]:
    """Every stored run of the current plan in ``folder``, by name and seed."""
    found = [read(p) for p in sorted(Path(folder).glob("*-seed*.json"))]
    found = sorted((r for r in found if r), key=lambda r: (r["run"], r["seed"]))
    if not found:
        raise TrainingWellRunsMissing(
            f"no stored runs of the chapter 'Training well' in {folder}: run `make experiments "
            f"EXPERIMENTS_ARGS=--training-well`, then `scripts/run_experiments.py --promote`")
    return found
