"""pyproject.toml declares every package that course_utils imports, so that the package
installed alone (`pip install .` on Colab or on a Dask worker that grades) can run all of it;
tests/oldest/requirements.txt installs each lower bound exactly, and this environment
(requirements.txt) satisfies them."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEPENDENCIES = [Requirement(line) for line in PROJECT["dependencies"]]
EXTRAS = [Requirement(line) for extra in PROJECT["optional-dependencies"].values() for line in extra]


def imported_packages(package: Path) -> set[str]:
    """Top-level names of the modules that ``package``'s files import, standard library and
    the package itself left out."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {package.name, "__future__"}


def undeclared(imported: set[str], requirements: list[Requirement], distributions: dict) -> set[str]:
    """The imported names that no requirement provides, by its own name (IPython: ipython)
    or by the distribution installed under that name (tensorflow from tensorflow-cpu)."""
    declared = {canonicalize_name(r.name) for r in requirements}
    return {name for name in imported
            if canonicalize_name(name) not in declared
            and not {canonicalize_name(d) for d in distributions.get(name, ())} & declared}


def test_every_imported_package_is_declared():
    missing = undeclared(imported_packages(ROOT / "course_utils"), DEPENDENCIES + EXTRAS, packages_distributions())
    assert not missing, f"course_utils imports {sorted(missing)}: declare them in pyproject.toml [project]"


def test_a_package_missing_from_pyproject_is_named(tmp_path):
    package = tmp_path / "course_utils"
    package.mkdir()
    (package / "grader.py").write_text("import json\nimport nbformat\nfrom IPython.display import HTML\n"
                                       "from matplotlib import pyplot\nfrom . import grader\n"
                                       "import course_utils.ops\n\ndef f():\n    import yaml\n")
    requirements = [Requirement("ipython>=7"), Requirement("PyYAML>=6")]
    found = undeclared(imported_packages(package), requirements, {"yaml": ["PyYAML"]})
    assert found == {"nbformat", "matplotlib"}


def test_the_oldest_pins_are_the_lower_bounds():
    pins = {canonicalize_name(r.name): r for r in map(Requirement, _requirement_lines(ROOT / "tests" / "oldest"
                                                                                     / "requirements.txt"))}
    for requirement in DEPENDENCIES:
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"tests/oldest/requirements.txt: pin {requirement.name}=={lower[0]}"
        assert [spec.version for spec in pinned.specifier] == lower, (requirement, pinned)


def test_this_environment_satisfies_the_lower_bounds():
    for requirement in DEPENDENCIES:
        assert requirement.specifier.contains(version(requirement.name)), requirement


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]
