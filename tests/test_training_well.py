"""The runs of the chapter "Training well" (course_utils.experiments.training_well): the plan, the models
each run trains, and which stored records the chapter accepts."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

from course_utils.experiments import training_well as tw
from course_utils.models import build_source_cnn


def test_plan_covers_every_run_with_its_experiments_seeds():
    pairs = tw.planned_runs()
    assert len(pairs) == len(set(pairs)) == 61
    for name, spec in tw.RUNS.items():
        assert sorted(s for n, s in pairs if n == name) == sorted(tw.SEEDS[spec.experiment])
    overfit = {n for n, s in pairs if tw.RUNS[n].experiment == "overfit"}
    assert len(overfit) == 5 and len(tw.OVERFIT_SEEDS) >= 3       # every remedy on 3 seeds or more


def _layer_kinds(model):
    return [(type(layer).__name__, layer.get_config().get("rate"), layer.get_config().get("filters"),
             layer.get_config().get("units")) for layer in model.layers]


def test_the_dropout_remedy_is_the_source_model_and_the_baseline_lacks_only_dropout():
    source = build_source_cnn(compiled=False)
    with_dropout = tw.build_source_variant(tw.RUNS["overfit-dropout"])
    assert _layer_kinds(with_dropout) == _layer_kinds(source)
    baseline = tw.build_source_variant(tw.RUNS["overfit-none"])
    assert _layer_kinds(baseline) == [k for k in _layer_kinds(source) if k[0] != "Dropout"]


def test_l2_adds_lambda_times_the_sum_of_squared_kernels_and_nothing_for_biases():
    keras.utils.set_random_seed(0)
    model = tw.build_source_variant(tw.RUNS["overfit-l2"])
    model(np.zeros((1, 28, 28, 1), dtype=np.float32))
    expected = tw.L2_FACTOR * sum(float(np.sum(layer.kernel.numpy().astype(np.float64) ** 2))
                                  for layer in model.layers if hasattr(layer, "kernel"))
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_the_shift_remedy_moves_training_images_only():
    layer = tw.build_source_variant(tw.RUNS["overfit-shift"]).get_layer("shift")
    image = np.zeros((1, 28, 28, 1), dtype=np.float32)
    image[0, 10:18, 12:16] = 1.0
    assert np.array_equal(np.asarray(layer(image, training=False)), image)
    keras.utils.set_random_seed(1)
    moved = [np.asarray(layer(image, training=True)) for _ in range(8)]
    assert any(not np.array_equal(m, image) for m in moved)
    rows, cols = np.mgrid[:28, :28]
    for m in moved:                         # the ink stays whole and its centre moves at most 2.8 pixels
        assert m.sum() == pytest.approx(image.sum(), rel=1e-4)
        shift = [float((m[0, :, :, 0] * grid).sum() / m.sum() - (image[0, :, :, 0] * grid).sum() / image.sum())
                 for grid in (rows, cols)]
        assert max(map(abs, shift)) <= 28 * tw.SHIFT_FRACTION + 1e-4


@pytest.mark.parametrize("residual", [False, True])
def test_the_residual_path_carries_the_input_when_the_conv_layers_are_zero(residual):
    model = tw.build_stack(4, residual)
    for layer in model.layers:
        if layer.name.startswith("conv"):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    stem = keras.Model(model.inputs, model.get_layer("stem").output)(x)
    body = keras.Model(model.inputs, model.get_layer("relu4").output)(x)
    if residual:
        np.testing.assert_allclose(np.asarray(body), np.asarray(stem), atol=1e-6)
    else:
        assert not np.asarray(body).any()


def test_odd_depth_is_refused():
    with pytest.raises(ValueError, match="even"):
        tw.build_stack(3, residual=True)


def test_read_accepts_only_records_of_the_current_plan(tmp_path):
    spec = tw.RUNS["depth-plain-4"]
    record = {"format_version": tw.FORMAT_VERSION, "run": "depth-plain-4", "seed": 0,
              "spec": dataclasses.asdict(spec), "schedule": dataclasses.asdict(tw.SCHEDULES["depth"])}
    path = tw.result_path(tmp_path, "depth-plain-4", 0)
    path.write_text(json.dumps(record))
    assert tw.read(path) == record
    path.write_text(json.dumps(dict(record, schedule=dict(record["schedule"], epochs=5))))
    assert tw.read(path) is None
    path.write_text(json.dumps(dict(record, run="no-such-run")))
    assert tw.read(path) is None
    with pytest.raises(tw.TrainingWellRunsMissing, match="--training-well"):
        tw.load(tmp_path / "empty")


def test_a_short_l2_run_records_the_penalty_keras_adds_to_its_losses():
    """Keras' val_loss of an L2 run is cross-entropy + lambda * sum(v^2): the record keeps the
    penalty, and cross_entropy() takes it off (checked against the cross-entropy recomputed)."""
    from course_utils.data import one_hot

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 28, 28, 1)).astype(np.float32)
    y = one_hot(rng.integers(0, 10, size=64))
    spec = dataclasses.replace(tw.RUNS["overfit-l2"])
    keras.utils.set_random_seed(0)
    model = tw.build(spec)
    log = tw._penalty_log()
    history = model.fit(x[:48], y[:48], epochs=2, batch_size=16, verbose=0, validation_data=(x[48:], y[48:]),
                        callbacks=[log])
    record = {"run": "overfit-l2", "seed": 0, "spec": dataclasses.asdict(spec),
              "history": {**history.history, "penalty": log.values}}
    p = model.predict(x[48:], verbose=0)
    recomputed = float(keras.losses.CategoricalCrossentropy()(y[48:], p))
    assert log.values[-1] > 0.01
    assert tw.cross_entropy(record)[-1] == pytest.approx(recomputed, rel=1e-4)
    assert history.history["val_loss"][-1] == pytest.approx(recomputed + log.values[-1], rel=1e-4)
    with pytest.raises(ValueError, match="penalty"):
        tw.cross_entropy({**record, "history": history.history})
