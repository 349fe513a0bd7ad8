"""Which students handed in the same exercise function, up to names, comments and layout.

Each exercise function is reduced to a digest of its syntax tree after normalising what a
copy changes cheaply: comments and layout (gone with the parse), docstrings and other
stray string statements (dropped), and the names of arguments and local variables
(renamed ``v0``, ``v1``, ... in the order they first appear). Names from outside the
function (``np.zeros``, a helper) and every operation, constant and loop are kept, so an
honestly different solution gets a different digest. Two students with the same digest
are flagged for the instructor to look at: it is a reason to look, not a verdict. A
function with fewer than ``MIN_NODES`` nodes is not compared: short answers (a formula on
one line) coincide honestly. A digest equal to the reference solution's (the instructor's
edition, ``book/*.md``) is flagged too.

>>> a = "def f(x, h):\\n    '''Mine.'''\\n    total = x * h  # scale\\n    return total + 1\\n"
>>> b = "def f(img, flt):\\n    out = img * flt\\n\\n    return out + 1\\n"
>>> function_digest(a, "f") == function_digest(b, "f")
True
>>> function_digest(a, "f") == function_digest(a.replace("+ 1", "- 1"), "f")
False
"""

from __future__ import annotations

import ast
import copy as copy_module
import dataclasses
import hashlib
import re
from pathlib import Path

from course_utils.grading.cell_slice import parse

MIN_NODES = 45   # the shortest exercise solutions of the book (formulas of one line: 23 to 40 nodes) are below
MAGIC = re.compile(r"^\s*[%!].*$", re.M)          # IPython magics and shell lines: not Python
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?:(?::[^\n]*\n)*)(?P<body>.*?)^```[ \t]*$", re.S | re.M)


def _parse(source: str) -> ast.Module | None:
    try:
        return parse(MAGIC.sub("", source))
    except (SyntaxError, ValueError):
        return None


def definitions(cells: list[str]) -> dict[str, ast.FunctionDef]:
    """Every top-level function of ``cells`` by name: the last definition, the one a run of
    the notebook keeps. Each cell is parsed once; a cell that is not Python is skipped."""
    found = {}
    for source in cells:
        tree = _parse(source)
        for node in tree.body if tree else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[node.name] = node
    return found


def find_function(cells: list[str], name: str) -> ast.FunctionDef | None:
    """The last top-level definition of ``name`` in ``cells``."""
    return definitions(cells).get(name)


class _Normaliser(ast.NodeTransformer):
    """Drop docstrings and string statements; rename the function's arguments and locals."""

    def __init__(self, local_names: set[str]):
        self.local_names, self.renamed = local_names, {}

    def _canonical(self, name: str) -> str:
        if name not in self.local_names:
            return name
        return self.renamed.setdefault(name, f"v{len(self.renamed)}")

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return self.generic_visit(node)

    def visit_Name(self, node):
        node.id = self._canonical(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._canonical(node.arg)
        node.annotation = None
        return self.generic_visit(node)

    def _rename_definition(self, node):
        node.name = self._canonical(node.name)
        node.returns = None
        self.generic_visit(node)
        if not node.body:
            node.body = [ast.Pass()]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _rename_definition

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = self._canonical(node.name)
        return self.generic_visit(node)

    def visit_alias(self, node):
        bound = node.asname or node.name.split(".")[0]
        if bound in self.local_names:
            node.asname = self._canonical(bound)
        return node


def _local_names(function: ast.FunctionDef) -> set[str]:
    """Names bound inside ``function`` (arguments, assignments, loop targets, nested
    definitions, imports, ``except ... as``), less those it declares global or nonlocal."""
    bound, declared = {function.name}, set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    return bound - declared


def normalised(function: ast.FunctionDef) -> tuple[str, int]:
    """(the normalised tree as text, its number of nodes)."""
    copy = copy_module.deepcopy(function)    # never change the caller's tree
    tree = _Normaliser(_local_names(copy)).visit(copy)
    return ast.dump(tree, annotate_fields=False, include_attributes=False), sum(1 for _ in ast.walk(tree))


def function_digest(source: str | list[str], name: str) -> str | None:
    """The digest of ``name`` as defined in ``source`` (a cell or a list of cells), or None
    when it is not defined there."""
    function = find_function([source] if isinstance(source, str) else source, name)
    return None if function is None else _digest(function)


def _digest(function: ast.FunctionDef) -> str:
    return hashlib.sha256(normalised(function)[0].encode()).hexdigest()


def reference_digests(book: Path, names: dict[str, str]) -> dict[str, set[str]]:
    """Exercise label -> digests of its function as the chapters' code cells define it
    (``names``: label -> function name), each cell read on its own."""
    found = {}
    for md in sorted(Path(book).glob("*.md")):
        for match in CODE_CELL.finditer(md.read_text(encoding="utf-8")):
            defined = definitions([match.group("body")])
            for label, name in names.items():
                text, nodes = normalised(defined[name]) if name in defined else ("", 0)
                if nodes >= MIN_NODES:    # a placeholder (def ...: ...) is too short to count
                    found.setdefault(label, set()).add(hashlib.sha256(text.encode()).hexdigest())
    return found


@dataclasses.dataclass
class SameFunction:
    """Students whose ``function`` for ``exercise`` normalises to one digest."""

    exercise: str
    function: str
    students: list[str]
    nodes: int
    matches_reference: bool


def similar_functions(notebooks: dict[str, list[str]], names: dict[str, str],
                      references: dict[str, set[str]] | None = None,
                      min_nodes: int = MIN_NODES) -> tuple[list[SameFunction], int]:
    """Groups of students with the same function (two or more, or one that matches the
    reference), and how many functions were too short to compare.

    ``notebooks``: student -> code cells; ``names``: exercise label -> function name."""
    references = references or {}
    groups, short = {}, 0
    for student, cells in sorted(notebooks.items()):
        defined = definitions(cells)
        for label, name in names.items():
            function = defined.get(name)
            if function is None:
                continue
            text, nodes = normalised(function)
            if nodes < min_nodes:
                short += 1
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            group = groups.setdefault((label, digest), SameFunction(
                label, name, [], nodes, digest in references.get(label, ())))
            group.students.append(student)
    flagged = [group for group in groups.values() if len(group.students) > 1 or group.matches_reference]
    return sorted(flagged, key=lambda g: (g.exercise, -len(g.students), g.students)), short


def pairs(groups: list[SameFunction]) -> list[tuple[str, str, str]]:
    """Every flagged pair (exercise, student, other student) of ``groups``."""
    return [(group.exercise, a, b) for group in groups
            for i, a in enumerate(group.students) for b in group.students[i + 1:]]
