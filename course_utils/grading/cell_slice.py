"""Which statements of a notebook the graded functions need: a slice by names.

A chapter's solved notebook spends most of its time on what no checker looks at: training,
predictions on thousands of digits, figures. The grader runs only the top-level statements
that bind a name the exercise functions need, then the names those statements read, and so
on (``needed_sources``). A statement that binds names in ways this reading cannot follow
(``exec``, ``globals()``, ``setattr``, ``import *``, ...) is always run. The borrowed-work
check still reads every cell; and a slice that turns out to miss something shows as a
``NameError`` or ``AttributeError``, after which the grader runs the whole notebook
(:mod:`course_utils.grading.submission`).

A statement *binds* a name when it assigns, imports, defines or deletes it, assigns into it
(``a[0] = ...``, ``a.b = ...``), calls a method of it when it holds data (``a.append(...)``),
or calls a function that declares it ``global``. It *reads* the names its code loads,
including the global names its functions read when they are called.
"""

from __future__ import annotations

import ast
import dataclasses
import symtable
import threading

# Names through which a statement can bind or change anything: such a statement always runs.
OPAQUE = frozenset({"exec", "eval", "globals", "locals", "vars", "setattr", "delattr", "__import__",
                    "importlib", "__builtins__", "builtins", "sys", "__main__", "get_ipython"})
OPAQUE_ATTRIBUTES = frozenset({"__dict__", "__globals__", "__builtins__", "__setattr__", "__code__",
                               "__import__", "modules"})


def python_source(source: str) -> str:
    """A cell's Python, IPython's magics and shell commands turned into calls as IPython does."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # a cell IPython cannot read either: compiling it reports the error
        return source


# Python 3.11's parser keeps a global recursion count: two threads parsing at once (the
# grader's --jobs, or TensorFlow's autograph in a checker beside it) can fail with
# "SystemError: AST constructor recursion depth mismatch". The grader's own parses take
# turns, and one that another thread's parse spoiled is tried again.
AST_LOCK = threading.Lock()
PARSE_TRIES = 5


def parse(source: str) -> ast.Module:
    """``ast.parse``, one thread of the grader at a time, tried again after the failure above;
    SyntaxError also for source nested too deeply to parse (Python raises MemoryError)."""
    for attempt in range(PARSE_TRIES):
        try:
            with AST_LOCK:
                return ast.parse(source)
        except (RecursionError, MemoryError):   # a student's 100,000 nested brackets: not readable here
            raise SyntaxError("nested too deeply for the parser") from None
        except SystemError:
            if attempt == PARSE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


@dataclasses.dataclass
class Unit:
    """Whole lines of one cell holding one or more top-level statements."""

    cell: int
    source: str
    binds: set[str]            # names it assigns, changes or defines
    kills: set[str]            # names it certainly replaces (so earlier bindings are not needed)
    reads: set[str]            # names it reads now, lambdas and comprehensions included
    deferred: dict[str, set[str]]   # function it defines -> the globals its body reads when called
    data_calls: set[str]       # roots of method calls, ``a`` of ``a.append(...)``
    global_writes: dict[str, set[str]]   # function it defines -> globals it assigns
    kind_of: dict[str, str]    # name -> "code" (def, class, import) or "data" (assigned)
    opaque: bool = False


def _globals_of(table: symtable.SymbolTable) -> tuple[set[str], set[str]]:
    """Globals that a function or class scope (and the scopes inside it) reads, and those it
    assigns through ``global``."""
    reads, writes = set(), set()
    for symbol in table.get_symbols():
        if symbol.is_global() and symbol.is_referenced():
            reads.add(symbol.get_name())
        if symbol.is_declared_global() and symbol.is_assigned():
            writes.add(symbol.get_name())
    for child in table.get_children():
        child_reads, child_writes = _globals_of(child)
        reads |= child_reads
        writes |= child_writes
    return reads, writes


def _top_level_nodes(statement: ast.stmt):
    """The nodes of a statement outside the bodies of the functions and classes it defines."""
    pending = [statement]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            pending += getattr(node, "decorator_list", []) + getattr(node, "bases", [])
            continue
        pending += list(ast.iter_child_nodes(node))


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _kills(statement: ast.stmt) -> set[str]:
    """Names a simple statement certainly replaces (not one inside ``if``, ``for``, ...)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, ast.Assign) or isinstance(statement, ast.AnnAssign) and statement.value:
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = set()
        for target in targets:
            pending = [target]
            while pending:
                node = pending.pop()
                if isinstance(node, ast.Name):
                    names.add(node.id)
                elif isinstance(node, (ast.Tuple, ast.List)):
                    pending += node.elts
                elif isinstance(node, ast.Starred):
                    pending.append(node.value)
        return names
    return set()


def _is_opaque(statement: ast.stmt) -> bool:
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and node.id in OPAQUE or \
                isinstance(node, ast.Attribute) and node.attr in OPAQUE_ATTRIBUTES or \
                isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return True
    return any(isinstance(node, (ast.Global, ast.Nonlocal)) for node in _top_level_nodes(statement))


def _unit(cell: int, source: str, statements: list[ast.stmt]) -> Unit:
    with AST_LOCK:
        try:
            table = symtable.symtable(source, f"<cell {cell}>", "exec")
        except (RecursionError, MemoryError):
            raise SyntaxError("nested too deeply for the symbol table") from None
    binds, reads, kind_of = set(), set(), {}
    for symbol in table.get_symbols():
        name = symbol.get_name()
        if symbol.is_imported() or symbol.is_namespace():
            binds.add(name)
            kind_of[name] = "code"
        elif symbol.is_assigned():
            binds.add(name)
            kind_of[name] = "data"
        if symbol.is_referenced():
            reads.add(name)
    functions = {s.name for s in statements if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    deferred, global_writes = {}, {}
    for child in table.get_children():
        child_reads, child_writes = _globals_of(child)
        if child.get_type() == "function" and child.get_name() in functions:
            deferred.setdefault(child.get_name(), set()).update(child_reads)
        else:     # a lambda, a comprehension or a class body: run now, or conservatively so
            reads |= child_reads
        if child_writes:
            global_writes[child.get_name()] = child_writes
    data_calls = set()
    for statement in statements:
        for node in _top_level_nodes(statement):
            if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
                if root := _root(node):
                    binds.add(root)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if root := _root(node.func):
                    data_calls.add(root)
    kills = set().union(*map(_kills, statements))
    opaque = any(map(_is_opaque, statements))
    return Unit(cell, source, binds, kills, reads, deferred, data_calls, global_writes, kind_of, opaque)


def units(cells: list[str]) -> list[Unit] | None:
    """The units of every code cell, in order; None when a cell is not valid Python (the
    whole notebook then runs, so that the student sees that cell's error as before)."""
    found = []
    for cell, raw in enumerate(cells):
        source = python_source(raw)
        try:
            tree = parse(source)
        except (SyntaxError, ValueError):
            return None
        lines = source.splitlines()
        groups: list[tuple[int, int, list[ast.stmt]]] = []   # first line, last line, statements
        for statement in tree.body:
            first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
            if groups and first <= groups[-1][1]:
                groups[-1] = (groups[-1][0], max(groups[-1][1], statement.end_lineno), groups[-1][2] + [statement])
            else:
                groups.append((first, statement.end_lineno, [statement]))
        for first, last, statements in groups:
            text = "\n".join(lines[first - 1:last])
            try:
                found.append(_unit(cell, text, statements))
            except (SyntaxError, ValueError):
                return None
    return found


def needed_sources(cells: list[str], names: list[str]) -> list[str] | None:
    """Each cell's source reduced to the statements ``names`` need ("" for a cell with none),
    in the cells' order; None when the notebook cannot be sliced or every statement is
    needed (run it all, as it is).

    One pass from the last statement to the first: a statement runs when it binds a name
    still needed after it (or is opaque); what it reads is then needed before it, and what
    it certainly replaces is not. A function's body reads its globals when it is called:
    those are needed wherever the function is read (a call, or a reference), and at the end
    for the exercise functions, which the grader calls after every cell.
    """
    found = units(cells)
    if found is None:
        return None
    kinds, global_writes, deferred = {}, {}, {}
    for unit in found:
        kinds.update(unit.kind_of)
        global_writes.update(unit.global_writes)
        for function, reads in unit.deferred.items():
            deferred.setdefault(function, set()).update(reads)

    def with_callees(reads: set[str]) -> set[str]:
        """``reads`` and the globals of the functions among them, and of theirs."""
        closed, pending = set(reads), list(reads)
        while pending:
            for name in deferred.get(pending.pop(), ()):
                if name not in closed:
                    closed.add(name)
                    pending.append(name)
        return closed

    for unit in found:
        unit.binds |= {root for root in unit.data_calls if kinds.get(root) == "data"}
        for name in unit.reads:
            unit.binds |= global_writes.get(name, set())
    needed, chosen = with_callees(set(names)), []
    for unit in reversed(found):
        if unit.opaque or unit.binds & needed:
            chosen.append(unit)
            needed = (needed - unit.kills) | with_callees(unit.reads)
    if len(chosen) == len(found):
        return None      # nothing left out: the cells run as they are
    sources = [[] for _ in cells]
    for unit in reversed(chosen):
        sources[unit.cell].append(unit.source)
    return ["\n".join(parts) for parts in sources]
