"""Does a student's function do the work itself? Read from the notebook's source, in the grader.

An exercise asks the student to implement an operation. A function that hands the work to
the course's own reference implementations (``course_utils``), to Keras, TensorFlow,
SciPy's convolutions (``scipy.signal``, ``scipy.ndimage``), PyTorch or JAX gets no credit.
This module finds that statically, from the submitted source, so nothing the student's
code does at run time can hide it: it follows the definition of ``my_...`` and of every
notebook-level function or variable it uses, and reports

- a use of a name imported from one of those modules (``ops.max_pool2d``,
  ``tf.nn.conv2d``, ``correlate2d`` imported from ``scipy.signal``, ``my_max_pool =
  course_utils.ops.max_pool2d``), or an import of one of them inside the function;
- code the grader cannot follow: ``exec``, ``eval``, ``compile``, ``__import__``,
  ``importlib``, ``sys.modules``, ``globals()``, ``inspect``, ``sys.setprofile``/``settrace``;
- a function that is not defined by a plain ``def``, ``lambda`` or assignment in the notebook.

The worker adds a run-time record of the same modules (see ``course_utils.grading.worker``);
either finding withholds the credit.

Examples
--------
>>> cells = ["from course_utils import ops", "my_max_pool = ops.max_pool2d"]
>>> print(find_borrowed_work(cells, "my_max_pool"))
my_max_pool uses course_utils.ops.max_pool2d (the course's reference implementations)
>>> find_borrowed_work(["import numpy as np", "def my_max_pool(z, size):\\n    return np.max(z)"], "my_max_pool")
"""

from __future__ import annotations

import ast

from course_utils.grading.cell_slice import parse, python_source
from course_utils.grading.policy import not_credited

OPAQUE_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals"}
OPAQUE_MODULES = ("importlib", "inspect", "builtins", "ctypes", "sys.modules", "sys.setprofile",
                  "sys.settrace", "sys._getframe", "gc.get_referrers", "marshal", "pickle", "types.FunctionType",
                  "types.CodeType")


def _opaque(dotted: str) -> bool:
    return any(dotted == name or dotted.startswith(name + ".") for name in OPAQUE_MODULES)


def _import_bindings(node) -> dict[str, str]:
    """Names bound by an import statement -> the dotted module path they stand for."""
    bound = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                bound[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                bound[top] = top
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for alias in node.names:
            bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _dotted(node, imports: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` replaced by what it was imported as; None if ``a`` was not imported."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imports:
        return None
    return ".".join([imports[node.id], *reversed(parts)])


class _Notebook:
    """Top-level bindings of a notebook, last one winning, as the cells ran top to bottom;
    and the attributes of imported modules that any cell assigns (``np.helper = ...``,
    ``setattr(np, "helper", ...)``), which make ``np.helper`` the notebook's own name."""

    def __init__(self, cells):
        self.imports: dict[str, str] = {}
        self.definitions: dict[str, ast.AST] = {}
        self.patched: set[str] = set()
        self.mutations: dict[str, list[ast.AST]] = {}
        for source in cells:
            try:
                tree = parse(python_source(source))
            except (SyntaxError, ValueError):
                continue
            for statement in tree.body:
                self._bind(statement)
                self._globals(statement)
            self._patches(tree)

    def _globals(self, statement):
        """A function that declares ``global x`` and assigns it defines ``x`` at the top
        level when it runs: the whole function counts as ``x``'s definition."""
        for node in ast.walk(statement):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
                for name in declared:
                    self.definitions[name] = statement
                    self.imports.pop(name, None)

    def _patches(self, tree):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and node.args):
                module = _dotted(node.args[0], self.imports)
                attribute = node.args[1] if len(node.args) > 1 else None
                base = _mutated_name(node.args[0])
                if not module and base:                # setattr(box, "f", ...) changes box's value
                    self.mutations.setdefault(base, []).append(node)
                if module:
                    self.patched.add(f"{module}.{attribute.value}" if isinstance(attribute, ast.Constant)
                                     and isinstance(attribute.value, str) else module)
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            for target in targets:
                dotted = _dotted(target, self.imports) if isinstance(target, ast.Attribute) else None
                if dotted:
                    self.patched.add(dotted)

    def _bind(self, statement):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for name, module in _import_bindings(statement).items():
                self.imports[name] = module
                self.definitions.pop(name, None)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definitions[statement.name] = statement
            self.imports.pop(statement.name, None)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for name in _bound_names(target):      # `np.x = ...` binds no name: np stays numpy
                    self.definitions[name] = statement
                    self.mutations.pop(name, None)
                    self.imports.pop(name, None)
                base = _mutated_name(target)           # `table[k] = ...`, `box.f = ...` change a name's value
                if base and base not in self.imports:
                    self.mutations.setdefault(base, []).append(statement)
        elif isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            # names bound by the statement itself (a for-loop's target, `with ... as x`):
            # the whole statement counts as their definition, iterable and context included
            heads = [statement.target] if isinstance(statement, (ast.For, ast.AsyncFor)) else \
                [item.optional_vars for item in getattr(statement, "items", []) if item.optional_vars]
            for head in heads:
                for name in _bound_names(head):
                    self.definitions[name] = statement
                    self.imports.pop(name, None)
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.stmt):
                    self._bind(child)
        for node in ast.walk(statement):          # walrus assignments anywhere at the top level
            if isinstance(node, ast.NamedExpr):
                self.definitions[node.target.id] = statement
                self.imports.pop(node.target.id, None)


def _bound_names(target) -> list[str]:
    """Names an assignment target binds: a name, or names inside a tuple or list of targets
    (not the object of ``a.b = ...`` or ``a[i] = ...``, which changes ``a`` without rebinding it)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _bound_names(element)]
    return []


def _mutated_name(target) -> str | None:
    """The name whose object ``a.b = ...`` or ``a[i][j] = ...`` changes (``a``), if any."""
    while isinstance(target, (ast.Attribute, ast.Subscript)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def find_borrowed_work(cells, name: str, allowed=()) -> str | None:
    """Why the function ``name`` of a notebook (its code cells' sources) gets no credit, or None.

    ``allowed``: dotted names (``course_utils.ops.conv2d``) that an exercise builds on and
    may use, such as the convolution inside an exercise on gradient descent.
    """
    notebook = _Notebook(cells)
    if name not in notebook.definitions:
        if name in notebook.imports:
            what = not_credited(notebook.imports[name])
            return (f"{name} is imported from {notebook.imports[name]}"
                    + (f" ({what})" if what else "") + ", not written in the notebook")
        return f"{name} is not defined by a plain `def` in the notebook, so the grader cannot read it"
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen or current not in notebook.definitions:
            continue
        seen.add(current)
        for definition in [notebook.definitions[current], *notebook.mutations.get(current, [])]:
            local = _local_names(definition)
            imports = {key: value for key, value in notebook.imports.items() if key not in local}
            for node in ast.walk(definition):
                imports |= _import_bindings(node)
            for node in ast.walk(definition):
                problem = _problem(node, name, imports, local, notebook, set(allowed))
                if problem:
                    return problem
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                    pending.append(node.id)
    return None


def _local_names(definition) -> set[str]:
    """Parameters and names assigned inside the functions and comprehensions of ``definition``."""
    local = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is not definition:
            local.add(node.name)
    if isinstance(definition, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = definition.targets if isinstance(definition, ast.Assign) else [definition.target]
        local -= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return local


def _problem(node, name, imports, local, notebook, allowed) -> str | None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for module in _import_bindings(node).values():
            if not_credited(module) and module not in allowed and not any(
                    a.startswith(module + ".") for a in allowed):
                return f"{name} imports {module} ({not_credited(module)})"
            if _opaque(module):
                return f"{name} imports {module}, which the grader cannot follow"
    if isinstance(node, (ast.Attribute, ast.Name)):
        dotted = _dotted(node, imports)
        if dotted and any(dotted == p or dotted.startswith(p + ".") for p in notebook.patched):
            return f"{name} uses {dotted}, which the notebook set on an imported module, so the grader cannot follow it"
        if dotted and (dotted in allowed or any(a.startswith(dotted + ".") for a in allowed)):
            return None
        if dotted and not_credited(dotted):
            return f"{name} uses {dotted} ({not_credited(dotted)})"
        if dotted and _opaque(dotted):
            return f"{name} uses {dotted}, which the grader cannot follow"
    if (isinstance(node, ast.Name) and node.id in OPAQUE_CALLS and node.id not in local
            and node.id not in notebook.definitions):
        return f"{name} uses {node.id}, which the grader cannot follow"
    if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in (
            "__init__", "__call__", "__name__"):
        return f"{name} uses the attribute {node.attr}, which the grader cannot follow"
    return None
