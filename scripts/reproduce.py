"""Reproduce the reference runs: the source CNN, the MLP baseline and the small CNN of chapter 10.

Usage: python scripts/reproduce.py [source_cnn] [mlp] [small_cnn]     (default: all)

Trains with the source's hyper-parameters and fixed seeds, evaluates on the 10,000 test
images and writes the run to course_utils/reference/<architecture>/ (weights, history,
metrics, environment). A CNN's run is written only if its test accuracy reaches
MIN_ACCURACY; otherwise the script exits with status 1 and the committed run stays as it was.
"""

from __future__ import annotations

import argparse
import sys

from course_utils import run_store
from course_utils.data import prepare_mnist
from course_utils.models import BUILDERS, MLP_CONFIG, REFERENCE_DIR, SMALL_CONFIG, SOURCE_CONFIG

CONFIGS = {"source_cnn": SOURCE_CONFIG, "mlp": MLP_CONFIG, "small_cnn": SMALL_CONFIG}
# The small CNN of chapter 10 must match the source's accuracy (0.9915) to earn its place.
MIN_ACCURACY = {"source_cnn": 0.990, "mlp": 0.97, "small_cnn": 0.991}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="RUN",
                        help=f"runs to train, some of {', '.join(CONFIGS)} (default: all)")
    names = parser.parse_args(argv).names
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown run {unknown}; choose from {sorted(CONFIGS)}")
    data = prepare_mnist()
    status = 0
    for name in names or list(CONFIGS):
        config = CONFIGS[name]
        print(f"Training {name}: {config}", flush=True)
        model, run = run_store.train_and_evaluate(BUILDERS[name], config, data, verbose=2)
        metrics = run["metrics"]
        print(f"{name}: test loss {metrics['test_loss']:.4f}, test accuracy {metrics['test_accuracy']:.4f}, "
              f"{run['environment']['seconds']:.0f} s", flush=True)
        if metrics["test_accuracy"] < MIN_ACCURACY[name]:
            print(f"error: {name} reached {metrics['test_accuracy']:.4f} < {MIN_ACCURACY[name]}; "
                  "the reference run was not replaced", file=sys.stderr)
            status = 1
            continue
        run_store.save_run(REFERENCE_DIR / name, model, run, BUILDERS[name])
        print(f"wrote {REFERENCE_DIR / name}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
