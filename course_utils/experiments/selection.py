"""Choosing an architecture (chapter 10): a rule fixed before the results, applied to
validation accuracy alone; the finalists trained afresh and tested once; and the
global-average-pooling heads trained until their training accuracy levels off.

The rule (:func:`choose`): among the sweep's variants, each judged on the mean validation
accuracy of its seeds 0, 1 and 2 (every variant has those three, so none is favoured by
extra seeds), find the best mean; the choice is the variant with the fewest parameters whose
mean is at least the best mean minus one standard error of the best mean.

The finalists (:data:`FINALISTS`: the rule's choice, the validation winner, the source model,
and the small CNN, whose design predates the rule) are trained again with seeds the sweep
never used (:data:`FINALIST_SEEDS`) on the sweep's own schedule, and only these runs are
evaluated on the test images, plain and shifted by 1 to 3 pixels
(:mod:`course_utils.shifted_digits`). Each run is stored as one JSON file in
:data:`RESULTS_DIR`, with which test digits it got right (packed bits), so that intervals
can be drawn over digits and seeds together (:func:`difference_interval`).
"""

from __future__ import annotations

import base64
import dataclasses
import math
import statistics
import time
from pathlib import Path

import numpy as np

from course_utils import run_store, shifted_digits
from course_utils.atomic_files import read_record
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"   # as course_utils.models has it, without Keras

SELECTION_SEEDS = (0, 1, 2)
FINALIST_SEEDS = (10, 11, 12, 13, 14)
EQUIVALENCE_MARGIN = 0.001          # +-0.1 percentage points, stated before any finalist ran
RESULTS_DIR = REFERENCE_DIR / "finalists"
PLATEAU_DIR = REFERENCE_DIR / "plateau"
FORMAT_VERSION = 1


def selection_table(results: list[dict]) -> list[dict]:
    """One row per variant with all of :data:`SELECTION_SEEDS`: mean, standard error and
    parameters, best validation mean first. Test accuracy is not read."""
    by_variant = {}
    for r in results:
        if r["seed"] in SELECTION_SEEDS:
            by_variant.setdefault(r["variant"], []).append(r)
    rows = []
    for name, mine in by_variant.items():
        if sorted(r["seed"] for r in mine) != list(SELECTION_SEEDS):
            continue
        val = [r["val_accuracy"] for r in mine]
        rows.append({"variant": name, "val_mean": statistics.fmean(val),
                     "val_se": statistics.stdev(val) / math.sqrt(len(val)), "parameters": mine[0]["parameters"]})
    return sorted(rows, key=lambda row: -row["val_mean"])


def choose(results: list[dict]) -> dict:
    """The rule of the module docstring: ``{"best", "choice", "threshold", "within"}``.

    >>> rows = [dict(variant=v, seed=s, val_accuracy=a + 0.0001 * s, parameters=p)
    ...         for v, a, p in [("big", 0.990, 900), ("small", 0.98995, 100), ("tiny", 0.980, 10)] for s in (0, 1, 2)]
    >>> choose(rows)["best"], choose(rows)["choice"]
    ('big', 'small')
    """
    table = selection_table(results)
    if not table:
        raise ValueError(f"results: no variant has all of the seeds {SELECTION_SEEDS}")
    best = table[0]
    threshold = best["val_mean"] - best["val_se"]
    within = [row for row in table if row["val_mean"] >= threshold]
    choice = min(within, key=lambda row: (row["parameters"], -row["val_mean"]))
    return {"best": best["variant"], "choice": choice["variant"], "threshold": threshold,
            "within": [row["variant"] for row in within]}


def finalists(results: list[dict]) -> list[str]:
    """The rule's choice, the validation winner, the source model and the small CNN, once each."""
    chosen = choose(results)
    return list(dict.fromkeys([chosen["choice"], chosen["best"], "source", "small_cnn"]))


def pack(correct: np.ndarray) -> str:
    """A boolean vector as base64 text of its packed bits (10,000 digits: 1,668 characters)."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode()


def unpack(text: str, count: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:count].astype(bool)


def _accuracy_report(model, x, y) -> dict:
    """Accuracy on ``x`` and on its digits that fit the frame, shifted 1 to 3 pixels."""
    labels = y.argmax(axis=1)
    correct = model.predict(x, batch_size=1000, verbose=0).argmax(axis=1) == labels
    shifted = shifted_digits.accuracy_under_shifts(model, x, labels)
    return {"accuracy": float(correct.mean()), "correct": correct, **shifted}


def train_finalist(name: str, seed: int, data, schedule=None) -> dict:
    """Train finalist ``name`` with ``seed`` on the sweep's schedule; evaluate it once on the
    validation and the test images, plain and shifted; return its record (nothing written)."""
    from course_utils.experiments import sweep

    schedule = schedule or sweep.SCHEDULE
    variant = sweep.VARIANTS[name]
    (x_train, y_train), (x_test, y_test) = data
    x_fit, y_fit = x_train[:schedule.train_images], y_train[:schedule.train_images]
    x_val, y_val = x_train[-schedule.validation_images:], y_train[-schedule.validation_images:]
    import keras

    keras.utils.set_random_seed(seed)
    model = variant.build(schedule.learning_rate)
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, batch_size=schedule.batch_size, epochs=schedule.epochs, verbose=0)
    seconds = time.perf_counter() - start
    val, test = _accuracy_report(model, x_val, y_val), _accuracy_report(model, x_test, y_test)
    return {
        "format_version": FORMAT_VERSION, "variant": name, "seed": seed, "spec": variant.spec,
        "schedule": dataclasses.asdict(schedule), "parameters": int(model.count_params()),
        "val_accuracy": val["accuracy"], "val_shifted": val["by_shift"], "val_shift_digits": val["digits"],
        "test_accuracy": test["accuracy"], "test_correct": pack(test["correct"]), "test_digits": len(test["correct"]),
        "test_shifted": test["by_shift"], "test_shift_digits": test["digits"],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "environment": run_store.environment(seconds),
    }


def train_to_plateau(name: str, seed: int, data, schedule=None, max_epochs: int = 20, patience: int = 3,
                     min_delta: float = 0.002) -> dict:
    """Train variant ``name`` on the sweep's images until its training accuracy levels off
    (Keras' EarlyStopping: ``patience`` epochs in a row that do not beat the best training
    accuracy so far by more than ``min_delta``; at most ``max_epochs``), with the
    validation accuracy of every epoch; return its record. The test images are not used."""
    import keras

    from course_utils.experiments import sweep

    schedule = schedule or sweep.SCHEDULE
    (x_train, y_train), _ = data
    x_fit, y_fit = x_train[:schedule.train_images], y_train[:schedule.train_images]
    x_val, y_val = x_train[-schedule.validation_images:], y_train[-schedule.validation_images:]
    keras.utils.set_random_seed(seed)
    model = sweep.VARIANTS[name].build(schedule.learning_rate)
    stop = keras.callbacks.EarlyStopping(monitor="accuracy", mode="max", min_delta=min_delta, patience=patience)
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, batch_size=schedule.batch_size, epochs=max_epochs, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[stop])
    return {
        "format_version": FORMAT_VERSION, "variant": name, "seed": seed, "spec": sweep.VARIANTS[name].spec,
        "schedule": dict(dataclasses.asdict(schedule), epochs=len(history.history["accuracy"])),
        "stopping": {"monitor": "accuracy", "min_delta": min_delta, "patience": patience, "max_epochs": max_epochs},
        "parameters": int(model.count_params()),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "environment": run_store.environment(time.perf_counter() - start),
    }


def result_path(folder: Path, name: str, seed: int) -> Path:
    return Path(folder) / f"{name}-seed{seed}.json"


def read(path: Path) -> dict | None:
    """A stored finalist or plateau run, or None (missing, corrupt, another format)."""
    return read_record(path, FORMAT_VERSION)


def load(folder: Path = RESULTS_DIR) -> list[dict]:
    """Every stored record of ``folder``, by variant and seed."""
    found = [read(p) for p in sorted(Path(folder).glob("*-seed*.json"))]
    return sorted((r for r in found if r), key=lambda r: (r["variant"], r["seed"]))


def difference_interval(a: list[dict], b: list[dict], level: float = 0.90, resamples: int = 2000,
                        seed: int = 0) -> tuple[float, float, float]:
    """Mean test accuracy of runs ``a`` minus that of runs ``b``, and a ``level`` interval
    for it from a bootstrap over both sources of noise: the seeds of each model (resampled
    with replacement) and the test digits (resampled once per draw, the same digits for both).
    A 90% interval inside +-margin is the two one-sided tests at the 5% level."""
    rng = np.random.default_rng(seed)
    ca = np.array([unpack(r["test_correct"], r["test_digits"]) for r in a], dtype=float)
    cb = np.array([unpack(r["test_correct"], r["test_digits"]) for r in b], dtype=float)
    observed = ca.mean() - cb.mean()
    draws = np.empty(resamples)
    n = ca.shape[1]
    for i in range(resamples):
        digits = rng.integers(0, n, n)
        ra, rb = rng.integers(0, len(ca), len(ca)), rng.integers(0, len(cb), len(cb))
        draws[i] = ca[np.ix_(ra, digits)].mean() - cb[np.ix_(rb, digits)].mean()
    tail = (1 - level) / 2
    return float(observed), float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))
