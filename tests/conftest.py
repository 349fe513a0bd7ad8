"""Shared fixtures. MNIST comes from $MNIST_PATH (CI sets it); tests that need it skip
with a clear reason when it is absent, except in CI, where they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_path() -> str:
    path = os.environ.get("MNIST_PATH", "")
    if not path or not os.path.isfile(path):
        message = f"MNIST_PATH={path!r} does not name a file; set it to mnist.npz"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mnist(mnist_path):
    from course_utils.data import load_mnist

    return load_mnist(mnist_path)
