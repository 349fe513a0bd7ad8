"""Chapter 10's protocol (course_utils.experiments.selection) and the shifted-digit criterion
(course_utils.shifted_digits), checked against values computed here independently."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest

from course_utils import shifted_digits
from course_utils.experiments import selection, sweep
from course_utils.data import one_hot, scale_images


def _runs(table):
    """Fake sweep records: {variant: (validation accuracies by seed, parameters)}."""
    return [{"variant": name, "seed": seed, "val_accuracy": accuracy, "parameters": parameters}
            for name, (accuracies, parameters) in table.items() for seed, accuracy in enumerate(accuracies)]


def test_the_rule_takes_the_smallest_model_within_one_standard_error_of_the_best():
    results = _runs({"best": ([0.990, 0.991, 0.992], 900),     # mean 0.991, standard error 0.000577
                     "close": ([0.9905, 0.991, 0.9905], 300),  # 0.99067: inside 0.991 - 0.000577
                     "smaller": ([0.989, 0.990, 0.990], 200),  # 0.98967: outside
                     "tiny": ([0.95, 0.95, 0.95], 10)})
    chosen = selection.choose(results)
    assert (chosen["best"], chosen["choice"]) == ("best", "close")
    assert chosen["threshold"] == pytest.approx(0.991 - 0.001 / math.sqrt(3))


def test_extra_seeds_do_not_count_and_incomplete_variants_are_left_out():
    results = _runs({"a": ([0.980, 0.981, 0.982, 0.999, 0.999], 100),   # seeds 3 and 4 would make it best
                     "b": ([0.985, 0.985, 0.986], 500),
                     "c": ([0.999, 0.999], 1)})                        # seed 2 missing
    chosen = selection.choose(results)
    assert chosen["best"] == chosen["choice"] == "b"
    assert [row["variant"] for row in selection.selection_table(results)] == ["b", "a"]


def test_the_rule_on_the_committed_sweep_matches_a_computation_from_the_files():
    means = {}
    for path in sweep.RESULTS_DIR.glob("*-seed[012].json"):
        record = json.loads(path.read_text())
        means.setdefault(record["variant"], []).append((record["val_accuracy"], record["parameters"]))
    best = max(means, key=lambda n: statistics.fmean(a for a, _ in means[n]))
    accuracies = [a for a, _ in means[best]]
    floor = statistics.fmean(accuracies) - statistics.stdev(accuracies) / math.sqrt(3)
    within = [n for n in means if statistics.fmean(a for a, _ in means[n]) >= floor]
    expected = min(within, key=lambda n: means[n][0][1])
    chosen = selection.choose(sweep.load_results())
    assert (chosen["best"], chosen["choice"]) == (best, expected)
    names = selection.finalists(sweep.load_results())
    assert names[0] == expected and best in names and {"source", "small_cnn"} <= set(names)


def test_the_sweep_records_hold_no_test_accuracy():
    for path in sweep.RESULTS_DIR.glob("*.json"):
        assert not any(key.startswith("test") for key in json.loads(path.read_text())), path.name


def test_packed_bits_round_trip():
    correct = np.random.default_rng(0).random(10_000) < 0.99
    assert np.array_equal(selection.unpack(selection.pack(correct), 10_000), correct)


def _record(correct):
    return {"test_correct": selection.pack(correct), "test_digits": len(correct)}


def test_the_difference_interval_covers_the_truth_and_counts_the_digits_noise():
    rng = np.random.default_rng(1)
    truth_a, truth_b = rng.random(10_000) < 0.99, rng.random(10_000) < 0.98
    a = [_record(truth_a ^ (rng.random(10_000) < 0.002)) for _ in range(5)]
    b = [_record(truth_b ^ (rng.random(10_000) < 0.002)) for _ in range(5)]
    observed, low, high = selection.difference_interval(a, b, resamples=400)
    expected = np.mean([selection.unpack(r["test_correct"], 10_000).mean() for r in a]) - \
        np.mean([selection.unpack(r["test_correct"], 10_000).mean() for r in b])
    assert observed == pytest.approx(expected)
    assert low < observed < high
    # Digits alone, with identical seeds, give about the binomial width of a paired difference.
    same_a, same_b = [_record(truth_a)] * 5, [_record(truth_b)] * 5
    _, low, high = selection.difference_interval(same_a, same_b, resamples=400)
    disagree = np.mean(truth_a != truth_b)
    assert (high - low) == pytest.approx(2 * 1.645 * math.sqrt(disagree / 10_000), rel=0.3)


def test_shift_images_is_a_roll_with_the_background_filling_in():
    images = np.random.default_rng(2).random((3, 8, 8))
    for dy, dx in [(0, 2), (-1, 0), (3, -2)]:
        rolled = np.roll(images, (dy, dx), axis=(1, 2))
        if dy > 0:
            rolled[:, :dy] = 0
        if dy < 0:
            rolled[:, dy:] = 0
        if dx > 0:
            rolled[:, :, :dx] = 0
        if dx < 0:
            rolled[:, :, dx:] = 0
        np.testing.assert_array_equal(shifted_digits.shift_images(images, dy, dx), rolled)


def test_only_digits_clear_of_the_frame_are_shifted():
    images = np.zeros((3, 28, 28))
    images[0, 10:15, 10:15] = 1          # clear
    images[1, 2, 14] = 1                 # ink in the frame
    images[2, 3:25, 3:25] = 1            # touches the frame's inner edge only: clear
    assert list(shifted_digits.inside_frame(images)) == [0, 2]


class ConstantModel:
    """Predicts class 3 for every image."""

    def predict(self, x, batch_size=None, verbose=0):
        out = np.zeros((len(x), 10))
        out[:, 3] = 1
        return out


def test_accuracy_under_shifts_counts_each_shift_over_the_four_directions():
    images = np.zeros((4, 28, 28, 1))
    images[:, 12:16, 12:16] = 1
    report = shifted_digits.accuracy_under_shifts(ConstantModel(), images, np.array([3, 3, 1, 2]))
    assert report == {"by_shift": {"0": 0.5, "1": 0.5, "2": 0.5, "3": 0.5}, "digits": 4}


def test_one_finalist_run_is_recorded(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    data = ((scale_images(x_train), one_hot(y_train)), (scale_images(x_test[:300]), one_hot(y_test[:300])))
    tiny = sweep.Schedule(epochs=1, train_images=256, validation_images=256)
    record = selection.train_finalist("filters-8", 10, data, tiny)
    assert record["test_digits"] == 300 and 0 <= record["test_accuracy"] <= 1
    correct = selection.unpack(record["test_correct"], 300)
    assert correct.mean() == pytest.approx(record["test_accuracy"])
    assert set(record["test_shifted"]) == {"0", "1", "2", "3"} and record["val_shift_digits"] <= 256
    json.dumps(record)


def test_a_corrupt_or_foreign_record_is_not_read(tmp_path):
    good = {"format_version": selection.FORMAT_VERSION, "variant": "source", "seed": 10}
    (tmp_path / "source-seed10.json").write_text(json.dumps(good))
    (tmp_path / "source-seed11.json").write_text('{"format_version": 1, "variant": "sou')   # cut off mid-write
    (tmp_path / "source-seed12.json").write_text(json.dumps(dict(good, format_version=99, seed=12)))
    (tmp_path / "source-seed13.json").write_text("[1, 2]")
    assert selection.load(tmp_path) == [good]
