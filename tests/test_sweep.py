"""The architecture sweep: resumable storage, summaries, one real (tiny) training run, and
the committed results the chapter reads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from course_utils import models
from course_utils.experiments import sweep
from course_utils.data import one_hot, scale_images
from course_utils.models import SMALL_CONFIG, trained_model

TINY = sweep.Schedule(epochs=1, train_images=256, validation_images=256)


def _fake_result(variant, seed, schedule=TINY, accuracy=0.5):
    return {"format_version": sweep.FORMAT_VERSION, "variant": variant.name, "factor": variant.factor,
            "value": variant.value, "spec": variant.spec, "schedule": dataclasses.asdict(schedule),
            "seed": seed, "parameters": 1, "val_accuracy": accuracy,
            "epoch_seconds": [1.0], "history": {}, "environment": {}}


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training by an instant fake that records what it was asked to train."""
    calls = []

    def train(variant, seed, data, schedule):
        calls.append((variant.name, seed))
        return _fake_result(variant, seed, schedule)

    monkeypatch.setattr(sweep, "train_variant", train)
    return calls


def test_stored_runs_are_skipped(tmp_path, fake_training):
    names = ["source", "filters-8"]
    sweep.run_sweep(None, tmp_path, names, seeds=(0, 1), schedule=TINY, log=lambda line: None)
    assert fake_training == [("source", 0), ("filters-8", 0), ("source", 1), ("filters-8", 1)]
    fake_training.clear()
    assert sweep.run_sweep(None, tmp_path, names, seeds=(0, 1, 2), schedule=TINY, log=lambda line: None)
    assert fake_training == [("source", 2), ("filters-8", 2)]


def test_corrupt_or_foreign_results_are_trained_again(tmp_path, fake_training):
    sweep.run_sweep(None, tmp_path, ["source", "kernel-5"], seeds=(0,), schedule=TINY, log=lambda line: None)
    sweep.result_path(tmp_path, "source", 0).write_text('{"format_version": 1, "var')  # cut short
    other = _fake_result(sweep.VARIANTS["kernel-5"], 0, dataclasses.replace(TINY, epochs=2))
    sweep.result_path(tmp_path, "kernel-5", 0).write_text(json.dumps(other))
    fake_training.clear()
    sweep.run_sweep(None, tmp_path, ["source", "kernel-5"], seeds=(0,), schedule=TINY, log=lambda line: None)
    assert fake_training == [("source", 0), ("kernel-5", 0)]


def test_promote_copies_only_finished_current_runs(tmp_path, fake_training):
    made, reference = tmp_path / "experiments", tmp_path / "reference"
    reference.mkdir()
    sweep.run_sweep(None, made, ["source", "kernel-5"], seeds=(0,), schedule=TINY, log=lambda line: None)
    sweep.result_path(made, "kernel-5", 0).write_text('{"format_version": 1, "var')   # cut short
    renamed = made / "source-seed7.json"   # a file whose name and content disagree
    renamed.write_text(sweep.result_path(made, "source", 0).read_text())
    (reference / "kept.json").write_text("{}")
    copied = sweep.promote(made, reference, TINY)
    assert [p.name for p in copied] == ["source-seed0.json"]
    assert sorted(p.name for p in reference.iterdir()) == ["kept.json", "source-seed0.json"]
    assert (reference / "source-seed0.json").read_bytes() == sweep.result_path(made, "source", 0).read_bytes()


def test_promote_refuses_a_read_only_package_folder(tmp_path):
    with pytest.raises(PermissionError, match="development checkout"):
        sweep.promote(tmp_path, tmp_path / "not-there", TINY)


def test_make_experiments_writes_outside_the_package():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "run_experiments.py"
    spec = importlib.util.spec_from_file_location("run_experiments", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    package = Path(sweep.__file__).resolve().parent
    assert package not in module.RESULTS.resolve().parents, module.RESULTS


def test_interruption_keeps_finished_runs_and_no_partial_file(tmp_path, monkeypatch):
    def train(variant, seed, data, schedule):
        if variant.name == "filters-16":
            raise KeyboardInterrupt
        return _fake_result(variant, seed, schedule)

    monkeypatch.setattr(sweep, "train_variant", train)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(None, tmp_path, ["filters-8", "filters-16"], seeds=(0,), schedule=TINY,
                        log=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filters-8-seed0.json"]


def test_unknown_variant_is_named(tmp_path):
    with pytest.raises(ValueError, match="resnet"):
        sweep.run_sweep(None, tmp_path, ["resnet"], schedule=TINY)


def test_schedule_cannot_overlap_validation_and_training():
    with pytest.raises(ValueError, match="60,000"):
        sweep.Schedule(train_images=55_000, validation_images=10_000)


def test_summary_statistics():
    variant = sweep.VARIANTS["depth-1"]
    results = [_fake_result(variant, s, accuracy=a) for s, a in enumerate((0.90, 0.92, 0.94))]
    (row,) = sweep.summarise(results)
    assert (row["seeds"], row["val_mean"], row["val_std"]) == (3, pytest.approx(0.92), pytest.approx(0.02))
    assert not any(key.startswith("test") for key in row)       # the sweep never reads test accuracy


def test_the_source_model_s_work_per_image_is_counted_by_hand():
    # conv1: 26x26 positions x 3x3x1x32 weights; conv2: 24x24 x 3x3x32x64; dense1: 12x12x64 x 128; output: 128 x 10
    assert sweep.multiply_adds("source") == 26 * 26 * 288 + 24 * 24 * 18_432 + 9216 * 128 + 128 * 10


def test_runs_go_seed_by_seed_and_the_most_work_first_within_a_seed():
    # Kernel 5 (22 M multiply-adds) > source (12 M) > 8 filters (1.01 M) > one conv layer (0.89 M).
    pairs = sweep.planned_runs(["source", "depth-1", "filters-8", "kernel-5"], seeds=(0, 1))
    assert sweep.training_order(pairs) == [
        ("kernel-5", 0), ("source", 0), ("filters-8", 0), ("depth-1", 0),
        ("kernel-5", 1), ("source", 1), ("filters-8", 1), ("depth-1", 1)]


def test_one_real_run_is_recorded(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    data = ((scale_images(x_train), one_hot(y_train)), (scale_images(x_test[:500]), one_hot(y_test[:500])))
    result = sweep.train_variant(sweep.VARIANTS["filters-8"], 0, data, TINY)
    assert result["parameters"] == sweep.VARIANTS["filters-8"].build(compiled=False).count_params()
    assert len(result["epoch_seconds"]) == TINY.epochs
    assert 0.0 <= result["val_accuracy"] <= 1.0 and len(result["history"]["loss"]) == 1
    assert not any(key.startswith("test") for key in result)    # chosen on validation; tested elsewhere


def test_missing_results_say_how_to_make_them(tmp_path):
    with pytest.raises(sweep.SweepResultsMissing, match="make experiments"):
        sweep.load_results(tmp_path)
    results = [_fake_result(sweep.VARIANTS["source"], 0, sweep.SCHEDULE)]
    assert ("source", 1) in sweep.missing_runs(results) and ("source", 0) not in sweep.missing_runs(results)


def test_variants_have_their_own_seed_lists(tmp_path, fake_training):
    assert sweep.planned_seeds("filters-8") == (0, 1, 2)
    assert sweep.planned_seeds("source") == (0, 1, 2, 3, 4)
    with pytest.raises(ValueError, match="resnet"):
        sweep.planned_seeds("resnet")
    sweep.run_sweep(None, tmp_path, ["source", "filters-8"], schedule=TINY, log=lambda line: None)
    assert fake_training == [("source", 0), ("filters-8", 0), ("source", 1), ("filters-8", 1),
                             ("source", 2), ("filters-8", 2), ("source", 3), ("source", 4)]


def test_missing_runs_follow_each_variants_seeds():
    results = [_fake_result(sweep.VARIANTS[name], s, sweep.SCHEDULE)
               for name in sweep.VARIANTS for s in (0, 1, 2)]
    assert sorted(sweep.missing_runs(results)) == sorted(
        (name, s) for name, seeds in sweep.PLANNED_SEEDS.items() for s in seeds if s > 2)
    assert sweep.missing_runs(results, seeds=(0, 1, 2)) == []


def test_summary_counts_unequal_seeds():
    source, small = sweep.VARIANTS["source"], sweep.VARIANTS["small_cnn"]
    results = ([_fake_result(source, s, accuracy=0.9) for s in range(5)]
               + [_fake_result(small, s, accuracy=a) for s, a in enumerate((0.91, 0.93))])
    rows = {row["variant"]: row for row in sweep.summarise(results)}
    assert (rows["source"]["seeds"], rows["small_cnn"]["seeds"]) == (5, 2)
    assert rows["small_cnn"]["val_mean"] == pytest.approx(0.92)
    assert rows["small_cnn"]["val_std"] == pytest.approx(0.02 / 2 ** 0.5)


def test_committed_sweep_is_complete():
    missing = sweep.missing_runs(sweep.load_results())
    assert not missing, f"run `make experiments` to finish the sweep; missing {missing}"


def test_recommended_small_cnn_matches_the_source(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV_VAR, str(tmp_path))  # no cache: the committed run
    model, run = trained_model(SMALL_CONFIG, train=False)
    _, (x_test, y_test) = mnist
    loss, accuracy = model.evaluate(scale_images(x_test), one_hot(y_test), batch_size=1000, verbose=0)
    assert accuracy >= 0.991
    assert accuracy == pytest.approx(run["metrics"]["test_accuracy"], abs=2e-4)
    assert models.build_source_cnn().count_params() >= 5 * model.count_params()
