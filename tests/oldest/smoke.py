"""Smoke test of course_utils on its oldest supported versions (see requirements.txt here).

Imports every module and runs one small call of each kind: a checker, the NumPy
convolutions, building the source CNN, loading the committed reference run, a sub-model,
receptive fields, the committed architecture sweep, an explorer (IPython) and the grader's
reading of a notebook (nbformat) and of its %magics (IPython).
Prints the versions and exits non-zero on the first failure.
"""

import importlib
import tempfile
from pathlib import Path

import numpy as np

MODULES = ["data", "ops", "im2col", "confusion", "atomic_files", "checks", "plots", "activations", "run_store",
           "models", "architectures", "experiments.sweep", "explorers", "grading.submission", "grading.worker",
           "grading.cell_slice"]


def main():
    import IPython
    import keras
    import matplotlib
    import nbformat
    import tensorflow as tf

    print(f"numpy {np.__version__}, matplotlib {matplotlib.__version__}, keras {keras.__version__}, "
          f"tensorflow {tf.__version__}, IPython {IPython.__version__}, nbformat {nbformat.__version__}")
    modules = {name: importlib.import_module(f"course_utils.{name}") for name in MODULES}
    checks, ops, engine, models = modules["checks"], modules["ops"], modules["im2col"], modules["models"]
    assert checks.check_output_size(lambda W, H, s=1, P=0: (W + 2 * P - H) // s + 1).passed
    x, h = np.random.rand(2, 6, 6, 3), np.random.rand(3, 3, 3, 2)
    assert np.allclose(engine.conv2d_im2col(x, h), ops.conv2d(x, h))
    b = np.random.rand(2) - 0.5
    assert np.allclose(engine.conv2d_im2col(x, h - 0.5, b, activation="relu"), ops.conv2d(x, h - 0.5, b, activation="relu"))
    assert modules["confusion"].confusion_matrix([0, 1], [1, 1], num_classes=2).tolist() == [[0, 1], [0, 1]]
    assert models.build_source_cnn().count_params() == 1199882
    model, run = models.trained_source_cnn(train=False)
    assert run["source"] in ("reference", "cache")
    outputs = modules["activations"].layer_outputs(model, np.zeros((2, 28, 28, 1), "float32"), ["conv1"])
    assert outputs["conv1"].shape == (2, 26, 26, 32)
    modules["plots"].digit_grid(np.zeros((2, 28, 28)), labels=[0, 1])
    fields = modules["architectures"].receptive_fields(models.build_small_cnn(compiled=False))
    assert [r["size"] for r in fields] == [3, 5, 6, 10, 14, 16]
    rows = modules["experiments.sweep"].summarise(modules["experiments.sweep"].load_results())
    modules["plots"].sweep_scatter(rows, "parameters", "parameters")
    assert "<script" in modules["explorers"].stride_explorer().data
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answer.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%time x = 1")]), path)
        _, notebook = modules["grading.submission"]._read(path)
        assert notebook.cells[0].source == "%time x = 1"
    cell_slice = modules["grading.cell_slice"]
    assert "get_ipython()" in cell_slice.python_source("%time x = 1")
    assert cell_slice.needed_sources(["import numpy as np\nbig = np.ones(9)", "def my_f():\n    return np"],
                                     ["my_f"]) == ["import numpy as np", "def my_f():\n    return np"]
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
