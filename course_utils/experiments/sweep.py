"""The architecture sweep of chapter 10: one factor at a time around the source CNN.

Every variant is trained with the same short schedule and several seeds. Each finished
(variant, seed) pair is stored at once as its own JSON file, written to a temporary name
and renamed, so an interrupted sweep loses at most the run in progress and a re-run skips
what is done. ``make experiments`` runs it into ``experiments/sweep`` (a folder of the
checkout, outside the package); the committed results that the chapter (and Colab) read
are package data in ``course_utils/reference/sweep`` (:data:`RESULTS_DIR`), changed only
by ``scripts/run_experiments.py --promote``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import keras

from course_utils import run_store
from course_utils.architectures import ArchitectureSpec
from course_utils.models import REFERENCE_DIR, build_small_cnn

RESULTS_DIR = REFERENCE_DIR / "sweep"   # the committed results: read-only package data
SEEDS = (0, 1, 2)
# The source model and the variants that the chapter compares most closely (the three best
# on validation accuracy, and the small CNN's global-average-pooling head) get five seeds.
FIVE_SEEDS = (0, 1, 2, 3, 4)
# Version 2 records no test accuracy: the sweep chooses on validation accuracy alone, and
# only the finalists of chapter 10's rule are tested (course_utils.experiments.selection). The first
# 55 runs, version 1, had computed test accuracy too; it was removed from their files when
# the rule was fixed (git history keeps them).
FORMAT_VERSION = 2


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The short training schedule shared by every variant.

    The first ``train_images`` training images are learned from; the last
    ``validation_images`` are held out for choosing; the test images are not used here.
    """

    epochs: int = 3
    batch_size: int = 128
    train_images: int = 30_000
    validation_images: int = 10_000
    learning_rate: float = 1.0

    def __post_init__(self):
        if self.train_images + self.validation_images > 60_000:
            raise ValueError(f"train_images + validation_images must be at most 60,000, "
                             f"got {self.train_images} + {self.validation_images}")


SCHEDULE = Schedule()


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named model of the sweep: which factor it changes, to what, and how to build it."""

    name: str
    factor: str
    value: str
    build: Callable
    spec: dict

    @classmethod
    def of(cls, factor: str, value, **changes) -> "Variant":
        spec = ArchitectureSpec(**changes)
        name = "-".join(f"{k}-{_word(v)}" for k, v in changes.items()) or "source"
        return cls(name, factor, str(value), spec.build, dataclasses.asdict(spec))


def _word(value) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _variants() -> list[Variant]:
    source = Variant.of("source model", "source")
    found = [source]
    for f in (8, 16, 64):
        found.append(Variant.of("filters (conv1)", f, filters=f))
    for k in (5, 7):
        found.append(Variant.of("kernel size", f"{k}x{k}", kernel=k))
    for d in (1, 3):
        found.append(Variant.of("conv layers", d, depth=d))
    for mode in ("average", "none", "strided"):
        found.append(Variant.of("down-sampling", mode, downsampling=mode))
    found.append(Variant.of("dropout", "off", dropout=False))
    found.append(Variant.of("head", "global average pooling", head="gap"))
    found.append(Variant("small_cnn", "recommended", "small CNN", build_small_cnn,
                         {"architecture": "small_cnn"}))
    found.append(Variant("small_cnn-head-gap", "recommended", "small CNN, GAP head",
                         functools.partial(build_small_cnn, head="gap"),
                         {"architecture": "small_cnn", "head": "gap"}))
    return found


VARIANTS = {v.name: v for v in _variants()}
# Seeds planned per variant: SEEDS unless listed here.
PLANNED_SEEDS = {name: FIVE_SEEDS for name in ("source", "kernel-7", "kernel-5", "small_cnn",
                                               "small_cnn-head-gap")}


def planned_seeds(name: str) -> tuple[int, ...]:
    """The seeds the sweep trains variant ``name`` with (``SEEDS`` unless it has more).

    >>> planned_seeds("filters-8"), planned_seeds("source")
    ((0, 1, 2), (0, 1, 2, 3, 4))
    """
    if name not in VARIANTS:
        raise ValueError(f"name: expected one of {sorted(VARIANTS)}, got {name!r}")
    return PLANNED_SEEDS.get(name, SEEDS)
# The source model's value of each factor, for tables that line a factor's values up.
SOURCE_VALUES = {"filters (conv1)": "32", "kernel size": "3x3", "conv layers": "2",
                 "down-sampling": "max", "dropout": "on", "head": "flatten + dense"}


def result_path(results_dir: Path, variant: str, seed: int) -> Path:
    return Path(results_dir) / f"{variant}-seed{seed}.json"


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch in ``seconds``."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_variant(variant: Variant, seed: int, data, schedule: Schedule = SCHEDULE) -> dict:
    """Train one variant with one seed; return its result record (nothing is written)."""
    (x_train, y_train), _ = data             # the test images are left to the finalists
    x_fit, y_fit = x_train[:schedule.train_images], y_train[:schedule.train_images]
    x_val, y_val = x_train[-schedule.validation_images:], y_train[-schedule.validation_images:]
    keras.utils.set_random_seed(seed)
    model = variant.build(schedule.learning_rate)
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(x_fit, y_fit, batch_size=schedule.batch_size, epochs=schedule.epochs,
                        callbacks=[timer], verbose=0)
    seconds = time.perf_counter() - start
    _, val_accuracy = model.evaluate(x_val, y_val, batch_size=1000, verbose=0)
    return {
        "format_version": FORMAT_VERSION, "variant": variant.name, "factor": variant.factor,
        "value": variant.value, "spec": variant.spec, "schedule": dataclasses.asdict(schedule),
        "seed": seed, "parameters": int(model.count_params()),
        "val_accuracy": float(val_accuracy), "epoch_seconds": [round(s, 2) for s in timer.seconds],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "environment": run_store.environment(seconds),
    }


def read_result(path: Path) -> dict | None:
    """A stored result, or None when the file is missing, unreadable or of another format."""
    from course_utils.atomic_files import read_record

    return read_record(path, FORMAT_VERSION)


def is_done(path: Path, variant: Variant, seed: int, schedule: Schedule) -> bool:
    """True when ``path`` holds a finished run of exactly this variant, seed and schedule."""
    result = read_result(path)
    return (result is not None and result.get("spec") == variant.spec and result.get("seed") == seed
            and result.get("schedule") == dataclasses.asdict(schedule))


def write_result(path: Path, result: dict) -> None:
    """Write atomically (``course_utils.atomic_files``): a reader never sees half a file."""
    from course_utils.atomic_files import write_atomic

    write_atomic(path, json.dumps(result, indent=1) + "\n")


def planned_runs(names=None, seeds=None) -> list[tuple[str, int]]:
    """The (variant, seed) pairs to train, seed by seed (seeds form the outer loop).

    ``seeds=None`` takes each variant's own :func:`planned_seeds`; a sequence of seeds is
    used for every variant named.
    """
    names = list(names or VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"names: unknown variants {unknown}; expected some of {sorted(VARIANTS)}")
    per_name = {n: tuple(seeds) if seeds is not None else planned_seeds(n) for n in names}
    every_seed = sorted({s for chosen in per_name.values() for s in chosen})
    return [(n, s) for s in every_seed for n in names if s in per_name[n]]


def run_sweep(data, results_dir: Path = RESULTS_DIR, names=None, seeds=None,
              schedule: Schedule = SCHEDULE, log=print) -> list[Path]:
    """Train every (variant, seed) not stored yet, seed by seed, storing each as it finishes.

    Seeds form the outer loop, so an interrupted sweep already has every variant's first
    seed. ``seeds=None`` trains each variant with its :func:`planned_seeds`. Returns the
    paths written in this call.
    """
    planned = planned_runs(names, seeds)
    todo = [(VARIANTS[n], s) for n, s in planned
            if not is_done(result_path(results_dir, n, s), VARIANTS[n], s, schedule)]
    log(f"{len(planned) - len(todo)} runs already stored in {results_dir}; {len(todo)} to train")
    written = []
    for i, (variant, seed) in enumerate(todo, start=1):
        result = train_variant(variant, seed, data, schedule)
        path = result_path(results_dir, variant.name, seed)
        write_result(path, result)
        written.append(path)
        log(f"[{i}/{len(todo)}] {variant.name} seed {seed}: validation accuracy {result['val_accuracy']:.4f}, "
            f"{result['parameters']:,} parameters, {statistics.median(result['epoch_seconds']):.1f} s/epoch")
    return written


@functools.lru_cache(maxsize=None)
def multiply_adds(name: str) -> int:
    """Multiply-adds per image in the forward pass of variant ``name``: its work, which no
    machine's noise disturbs (the committed seconds per epoch do: runs of a slow spell)."""
    from course_utils.architectures import parameter_table

    return sum(row["multiply_adds"] for row in parameter_table(VARIANTS[name].build(compiled=False)))


def training_order(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``pairs`` (variant, seed) seed by seed, and within a seed the variant with the most
    :func:`multiply_adds` first.

    On a cluster the sweep then ends with its shortest runs, so no worker waits long on the
    last one, while an interrupted sweep still has every variant's first seed.
    """
    return sorted(pairs, key=lambda pair: (pair[1], -multiply_adds(pair[0])))


def promote(results_dir: Path, reference_dir: Path = RESULTS_DIR, schedule: Schedule = SCHEDULE) -> list[Path]:
    """Copy every finished run of the current variants and schedule in ``results_dir`` into
    ``reference_dir`` (the committed results of a development checkout); returns the copies.

    Only runs :func:`is_done` accepts are copied, each atomically; nothing else in
    ``reference_dir`` changes. Raises ``PermissionError``, saying so, when ``reference_dir``
    is read-only (an installed package).
    """
    from course_utils.atomic_files import write_atomic

    reference_dir = Path(reference_dir)
    if not (reference_dir.is_dir() and os.access(reference_dir, os.W_OK)):
        raise PermissionError(f"{reference_dir} is not a writable folder: promote results in a "
                              f"development checkout (pip install -e .), not an installed package")
    copied = []
    for name, variant in VARIANTS.items():
        for path in sorted(Path(results_dir).glob(f"{name}-seed*.json")):
            result = read_result(path)
            if (result is not None and path.name == result_path("", name, result.get("seed")).name
                    and is_done(path, variant, result["seed"], schedule)):
                copied.append(write_atomic(reference_dir / path.name, path.read_bytes()))
    return copied


class SweepResultsMissing(FileNotFoundError):
    """No stored result of the sweep matches the current variants and schedule."""


def load_results(results_dir: Path = RESULTS_DIR, schedule: Schedule = SCHEDULE) -> list[dict]:
    """Every stored result of the current variants and schedule (others are left out).

    Raises :class:`SweepResultsMissing`, saying how to make them, when there is none.
    """
    found = []
    for variant in VARIANTS.values():
        for path in sorted(Path(results_dir).glob(f"{variant.name}-seed*.json")):
            result = read_result(path)
            if result and result.get("spec") == variant.spec and result.get("schedule") == dataclasses.asdict(schedule):
                found.append(result)
    if not found:
        raise SweepResultsMissing(f"no stored sweep results for {schedule} in {results_dir}; "
                                  "run `make experiments` to make them (into experiments/sweep), then "
                                  "`scripts/run_experiments.py --promote` to store them here")
    return found


def missing_runs(results: list[dict], seeds=None) -> list[tuple[str, int]]:
    """The (variant, seed) pairs of the sweep that ``results`` lacks.

    ``seeds=None`` expects each variant's :func:`planned_seeds`; a sequence expects those
    seeds of every variant.
    """
    done = {(r["variant"], r["seed"]) for r in results}
    return [pair for pair in planned_runs(None, seeds) if pair not in done]


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def summarise(results: list[dict]) -> list[dict]:
    """One row per variant: accuracy mean and standard deviation over its seeds, size, speed.

    ``val_*`` is the accuracy on the held-out validation images, the only accuracy the
    sweep records; ``seeds`` counts the stored runs.
    """
    rows = []
    for variant in VARIANTS.values():
        mine = [r for r in results if r["variant"] == variant.name]
        if not mine:
            continue
        val = [r["val_accuracy"] for r in mine]
        rows.append({
            "variant": variant.name, "factor": variant.factor, "value": variant.value,
            "seeds": len(mine), "val_mean": statistics.fmean(val), "val_std": _std(val),
            "parameters": mine[0]["parameters"],
            "seconds_per_epoch": statistics.median(s for r in mine for s in r["epoch_seconds"]),
        })
    return rows
