"""The helper package stays easy to change: no module imports another that imports it back."""

from __future__ import annotations

import ast
import re
import importlib
import pkgutil
from pathlib import Path

import course_utils
from conftest import ROOT

PACKAGE = ROOT / "course_utils"


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every module of ``modules`` that ``path`` imports, at module level or inside a
    function: ``from course_utils.grading import sandbox`` imports the module
    ``course_utils.grading.sandbox``, not the package's ``__init__``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_utils")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            submodules = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= submodules if len(submodules) == len(node.names) else submodules | {node.module}
    return found & modules


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    modules = set(paths)
    return {m: imports_of(path, modules) - {m} for m, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of module names, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_course_utils():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle in course_utils: {' -> '.join(cycle)}"


def test_cycle_finder_catches_a_planted_cycle(tmp_path):
    package = tmp_path / "course_utils"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from course_utils import b\n")
    (package / "b.py").write_text("def f():\n    from course_utils.a import x\n")
    (package / "c.py").write_text("import course_utils.a\n")
    assert find_cycle(import_graph(package)) == ["course_utils.a", "course_utils.b", "course_utils.a"]


def test_package_docstring_lists_every_module():
    modules = {m.name for m in pkgutil.iter_modules(course_utils.__path__)}
    doc = course_utils.__doc__
    missing = sorted(m for m in modules if f"``{m}``" not in doc)
    assert not missing, f"course_utils/__init__.py's docstring does not describe: {missing}"
    for m in modules:
        importlib.import_module(f"course_utils.{m}")


# --- the layers of README.md's "How the code is organised" ------------------------------

README = ROOT / "README.md"
LAYER_ROW = re.compile(r"^\| (\d+) [^|]*\| ((?:`[\w.]+`(?:, )?)+) \|", re.M)


def readme_layers(readme: Path = README) -> dict[str, int]:
    """Module (without the ``course_utils.`` prefix) -> its layer, from the README's table."""
    section = readme.read_text(encoding="utf-8").split("## How the code is organised", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for number, modules in LAYER_ROW.findall(section):
        for module in re.findall(r"`([\w.]+)`", modules):
            assert module not in layers, f"README.md places {module} in two layers"
            layers[module] = int(number)
    return layers


def layer_violations(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """Each import of a module from a later layer, and each module the table does not place."""
    short = {m: m.removeprefix("course_utils.") for m in graph}
    problems = [f"{short[m]} is in no layer of README.md's table" for m in graph
                if m != "course_utils" and short[m] not in layers]
    for module, imports in sorted(graph.items()):
        for imported in sorted(imports):
            if module != "course_utils" and layers.get(short[imported], 0) > layers.get(short[module], 99):
                problems.append(f"{short[module]} (layer {layers[short[module]]}) imports {short[imported]} "
                                f"(layer {layers[short[imported]]})")
    return problems


def test_every_module_imports_only_from_its_layer_or_below():
    problems = layer_violations(import_graph(), readme_layers())
    assert not problems, "README.md's layers and the imports disagree:\n  " + "\n  ".join(problems)


def test_the_layer_check_catches_an_upward_import_and_an_unplaced_module(tmp_path):
    package = tmp_path / "course_utils"
    (package / "grading").mkdir(parents=True)
    for name in ("__init__.py", "ops.py", "grading/__init__.py"):
        (package / name).write_text("")
    (package / "checks.py").write_text("from course_utils import ops\n")
    (package / "grading" / "worker.py").write_text("def f():\n    from course_utils import checks\n")
    layers = {"ops": 1, "checks": 4, "grading": 5, "grading.worker": 5}
    assert layer_violations(import_graph(package), layers) == []
    (package / "ops.py").write_text("def f():\n    from course_utils.grading import worker\n")
    (package / "new.py").write_text("")
    assert layer_violations(import_graph(package), layers) == [
        "new is in no layer of README.md's table", "ops (layer 1) imports grading.worker (layer 5)"]
