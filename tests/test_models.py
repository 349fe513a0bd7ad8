"""The source CNN: architecture, real (short) training, the committed reference run, and
the cache's robustness against interrupted writes and foreign files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from course_utils import models, run_store
from course_utils.data import scale_images, one_hot
from course_utils.models import SOURCE_CONFIG, build_source_cnn, trained_model


def test_architecture_matches_the_source():
    model = build_source_cnn()
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [(26, 26, 32), (24, 24, 64), (12, 12, 64), (12, 12, 64), (9216,), (128,), (128,), (10,)]
    # (H*H*K + 1)*M for the convolutions, (inputs + 1)*outputs for the dense layers.
    assert [layer.count_params() for layer in model.layers] == [
        (9 + 1) * 32, (9 * 32 + 1) * 64, 0, 0, 0, (9216 + 1) * 128, 0, (128 + 1) * 10]
    assert model.layers[-1].activation.__name__ == "softmax"
    assert float(model.optimizer.learning_rate) == 1.0  # not Keras 3's default of 0.001


@pytest.fixture(scope="module")
def test_set(mnist):
    _, (x_test, y_test) = mnist
    return scale_images(x_test), one_hot(y_test)


def test_reference_run_reaches_the_source_accuracy(test_set, tmp_path, monkeypatch):
    monkeypatch.setenv(models.CACHE_ENV_VAR, str(tmp_path))  # no cache: the committed run
    model, run = trained_model(SOURCE_CONFIG, train=False)
    assert run["source"] == "reference"
    loss, accuracy = model.evaluate(*test_set, batch_size=1000, verbose=0)
    assert accuracy >= 0.990
    assert accuracy == pytest.approx(run["metrics"]["test_accuracy"], abs=2e-4)
    assert loss == pytest.approx(run["metrics"]["test_loss"], abs=1e-3)
    assert len(run["history"]["val_loss"]) == SOURCE_CONFIG.epochs


def test_short_real_training_learns(mnist, tmp_path, monkeypatch):
    """One epoch on 4,000 images through the chapter's path: it must learn and be cached.

    4,000 images reach about 0.76 (measured: 0.765), far above chance (0.1) and above what
    a broken gradient or shuffled labels could reach, in a fifteenth of the time of the
    whole training set.
    """
    from course_utils.data import prepare_mnist

    monkeypatch.setenv(models.CACHE_ENV_VAR, str(tmp_path))
    config = dataclasses.replace(SOURCE_CONFIG, epochs=1, train_limit=4_000)
    data = prepare_mnist()
    model, run = trained_model(config, train=True, data=data, verbose=0)
    assert run["source"] == "trained now"
    assert run["metrics"]["test_accuracy"] > 0.6
    # The same configuration now loads from the cache, with identical weights.
    again, cached = trained_model(config, train=False)
    assert cached["source"] == "cache"
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.fixture()
def cache_with_run(tmp_path, monkeypatch):
    """A cache folder holding a valid (untrained) run of SOURCE_CONFIG."""
    monkeypatch.setenv(models.CACHE_ENV_VAR, str(tmp_path))
    folder = tmp_path / SOURCE_CONFIG.key()
    run = {"format_version": run_store.FORMAT_VERSION, "config": dataclasses.asdict(SOURCE_CONFIG),
           "history": {}, "metrics": {}, "environment": {}}
    run_store.save_run(folder, build_source_cnn(), run, models.build_source_cnn)
    return folder


def test_valid_cache_is_preferred(cache_with_run):
    _, run = trained_model(SOURCE_CONFIG, train=False)
    assert run["source"] == "cache"


def test_corrupt_cache_is_reported_and_ignored(cache_with_run, capsys):
    weights = cache_with_run / run_store.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    _, run = trained_model(SOURCE_CONFIG, train=False)
    assert run["source"] == "reference"
    assert "Ignoring the stored run" in capsys.readouterr().out


def test_weights_of_another_model_are_never_loaded(cache_with_run, capsys):
    from course_utils.models import build_mlp

    run = run_store.read_manifest(cache_with_run)
    run_store.save_run(cache_with_run, build_mlp(), run, build_mlp)  # checksum valid, architecture wrong
    _, loaded = trained_model(SOURCE_CONFIG, train=False)
    assert loaded["source"] == "reference"
    assert "does not fit source_cnn" in capsys.readouterr().out


def test_mismatched_configuration_is_ignored(cache_with_run, capsys):
    manifest = cache_with_run / run_store.MANIFEST
    run = json.loads(manifest.read_text())
    run["config"]["epochs"] = 3
    manifest.write_text(json.dumps(run))
    _, loaded = trained_model(SOURCE_CONFIG, train=False)
    assert loaded["source"] == "reference"
    assert "trained with" in capsys.readouterr().out


def test_interrupted_save_leaves_no_run(tmp_path, monkeypatch):
    """A KeyboardInterrupt between writing the weights and the manifest leaves no valid run."""
    model = build_source_cnn()
    run = {"format_version": run_store.FORMAT_VERSION, "config": dataclasses.asdict(SOURCE_CONFIG)}
    folder = tmp_path / "run"
    run_store.save_run(folder, model, run, models.build_source_cnn)
    real_replace = run_store.os.replace

    def interrupted(src, dst):
        if str(dst).endswith(run_store.MANIFEST):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(run_store.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_store.save_run(folder, model, run, models.build_source_cnn)
    assert not (folder / run_store.MANIFEST).exists()  # the old manifest went first: nothing half-valid
    with pytest.raises(run_store.RunFileError):
        run_store.read_manifest(folder)


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="config.architecture"):
        trained_model(dataclasses.replace(SOURCE_CONFIG, architecture="resnet"), train=False)


# --- the training chapter's own Keras code is the package's model -------------------------

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "06_training.md"


def chapter_cell(tag: str, chapter: Path = CHAPTER) -> str:
    """The source of the one code cell of ``chapter`` tagged ``tag``."""
    import jupytext

    cells = [cell for cell in jupytext.read(chapter).cells
             if cell.cell_type == "code" and tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"{chapter.name}: expected one code cell tagged {tag!r}, found {len(cells)}"
    return cells[0].source


def run_chapter_cells(*sources: str) -> dict:
    """Execute chapter cells in a namespace with the chapter's imports; returns the namespace."""
    import keras
    from keras import layers

    namespace = {"keras": keras, "layers": layers, "np": np}
    for source in sources:
        exec(compile(source, str(CHAPTER), "exec"), namespace)
    return namespace


def differences(page_model, package_model) -> list[str]:
    """What differs between two models, layer by layer: configuration, parameters, input."""
    found = []
    if len(page_model.layers) != len(package_model.layers):
        found.append(f"{len(page_model.layers)} layers on the page, {len(package_model.layers)} in the package")
    for ours, theirs in zip(page_model.layers, package_model.layers):
        if ours.get_config() != theirs.get_config():
            changed = {k for k in ours.get_config().keys() | theirs.get_config().keys()
                       if ours.get_config().get(k) != theirs.get_config().get(k)}
            found.append(f"layer {ours.name}: {sorted(changed)} differ")
    if page_model.count_params() != package_model.count_params():
        found.append(f"{page_model.count_params()} parameters on the page, {package_model.count_params()} in the package")
    if tuple(page_model.inputs[0].shape) != tuple(package_model.inputs[0].shape):
        found.append("input shapes differ")
    return found


def test_chapter_model_is_build_source_cnn():
    namespace = run_chapter_cells(chapter_cell("source-model"), chapter_cell("source-compile"))
    page = namespace["model"]
    assert differences(page, build_source_cnn(compiled=False)) == []
    assert page.count_params() == 1_199_882
    rates = [layer.rate for layer in page.layers if type(layer).__name__ == "Dropout"]
    assert rates == [0.25, 0.5]
    # compiled as compile_model compiles: the same loss, optimizer and learning rate
    package = build_source_cnn()
    assert page.loss == package.loss == "categorical_crossentropy"
    assert type(page.optimizer) is type(package.optimizer)
    assert float(page.optimizer.learning_rate) == float(package.optimizer.learning_rate) == 1.0


def test_a_drifted_chapter_model_is_caught():
    """The comparison above must fail when the page's model changes (planted drift)."""
    source = chapter_cell("source-model")
    assert "layers.Dropout(0.5" in source
    namespace = run_chapter_cells(source.replace("layers.Dropout(0.5", "layers.Dropout(0.4"))
    found = differences(namespace["model"], build_source_cnn(compiled=False))
    assert found and "dropout2" in found[0], found
    namespace = run_chapter_cells(source.replace("Dense(128", "Dense(100"))
    found = differences(namespace["model"], build_source_cnn(compiled=False))
    assert any("parameters" in item for item in found), found
