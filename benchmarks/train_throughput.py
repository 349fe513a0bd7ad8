"""Training throughput: the course's training path against a plain Keras script.

Usage: python benchmarks/train_throughput.py [--images 12800] [--repeats 9]

Both sides train the source CNN (same layers, Adadelta(1.0), batch 128,
validation_split 0.1) for one epoch on the same images, in this one process, taking
turns so that machine noise hits both alike. Prints images per second for each run, the
medians, and the ratio course / plain (goal: at least 0.95).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from blas_environment import announce, unset_build_overrides

REMOVED = unset_build_overrides()   # before NumPy loads (keras imports it)

import keras  # noqa: E402
from keras import layers  # noqa: E402

from course_utils import run_store  # noqa: E402
from course_utils.data import prepare_mnist  # noqa: E402
from course_utils.models import SOURCE_CONFIG, build_source_cnn  # noqa: E402


def plain_keras_seconds(x, y, seed):
    """The source's script, written without any course helper."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, validation_split=0.1, verbose=0)
    return time.perf_counter() - start


def course_seconds(data, images, seed):
    """The path the chapter and `make reproduce` use: run_store.train_and_evaluate."""
    config = dataclasses.replace(SOURCE_CONFIG, epochs=1, train_limit=images, seed=seed)
    _, run = run_store.train_and_evaluate(build_source_cnn, config, data, verbose=0)
    return run["environment"]["seconds"]  # the fit alone, as timed inside


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12800)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    announce(REMOVED)
    data = prepare_mnist()
    (x_train, y_train), _ = data
    x, y = x_train[:args.images], y_train[:args.images]
    trained = int(args.images * 0.9)  # validation_split holds out the last 10%
    plain_keras_seconds(x, y, 0)       # warm-up: graph tracing, thread pools
    course_seconds(data, args.images, 0)
    rates = {"plain Keras": [], "course": []}
    for repeat in range(1, args.repeats + 1):
        rates["plain Keras"].append(trained / plain_keras_seconds(x, y, repeat))
        rates["course"].append(trained / course_seconds(data, args.images, repeat))
        print(f"run {repeat}: plain Keras {rates['plain Keras'][-1]:7.1f} img/s, "
              f"course {rates['course'][-1]:7.1f} img/s", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"median over {args.repeats} runs of {trained} training images: "
          f"plain Keras {medians['plain Keras']:.1f} img/s, course {medians['course']:.1f} img/s")
    print(f"ratio course / plain Keras: {medians['course'] / medians['plain Keras']:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
