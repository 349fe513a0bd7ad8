"""Grade one submitted notebook: its code runs in a sandbox, its verdicts are computed here.

The grader never runs a checker, nor trusts any text, inside the process that ran the
student's code. For each submission it starts one worker in a sandbox
(:mod:`course_utils.grading.sandbox`, :mod:`course_utils.grading.worker`), runs the notebook's code
cells there one by one, then runs every checker of :mod:`course_utils.checks` *here*, on a
stand-in (:class:`RemoteFunction`) that sends each case's inputs to the worker as plain
data and receives plain data back (:mod:`course_utils.grading.wire`). The checker computes
its reference answer here, before the call, and compares here. A static reading of the
notebook's source (:mod:`course_utils.grading.borrowed_work`) and the worker's record of which modules
ran withhold the credit of a function that hands the work to the course's reference,
Keras, TensorFlow or SciPy's convolutions.

Nothing is lost: a cell that hangs or ends the kernel is skipped on a restart of the
worker (the notebook runs again without it); a call that hangs or ends the kernel fails
that exercise only; a notebook that cannot be read still gets a row.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import re
import secrets
import stat
import subprocess
import threading
import time
from pathlib import Path

import nbformat

from course_utils import checks
from course_utils.grading import cell_slice, sandbox, wire
from course_utils.i18n import _, using_language
from course_utils.grading.policy import BUILDS_ON, THREADS, is_audited
from course_utils.grading.borrowed_work import find_borrowed_work
from course_utils.time_limit import TimeLimitExceeded

MAX_NOTEBOOK_BYTES = 32 * 2**20
# Errors after which a sliced notebook is graded again with every cell: what a statement the
# slice left out would have defined.
MISSED_NAME_ERRORS = ("NameError", "AttributeError", "UnboundLocalError")
START_TIMEOUT_S = 60.0
CALL_MARGIN_S = 3.0


@dataclasses.dataclass
class Options:
    """How submissions are run: sandbox or not, limits, and time allowed."""

    sandboxed: bool = True
    limits: sandbox.Limits = dataclasses.field(default_factory=sandbox.Limits)
    cell_timeout: float = 60.0     # seconds for each code cell of the notebook
    notebook_timeout: float = 600.0  # seconds for all its cells, in each run of the notebook
    max_starts: int = 5            # worker starts per submission (the first one included)
    submission_timeout: float = 900.0  # seconds for everything: every start, cell, call and hint
    privileged: bool | None = None   # None: as root, a user of its own per sandbox (course_utils.grading.sandbox)
    all_cells: bool = False        # run every code cell, not only the statements the exercises need


@dataclasses.dataclass
class Verdict:
    exercise: str
    passed: bool
    message: str


@dataclasses.dataclass
class SubmissionGrade:
    """One submission's row: its name, status, one verdict per scored exercise, and a log."""

    student: str
    status: str
    verdicts: dict[str, Verdict]
    log: list[str]
    seconds: float = 0.0
    sliced: bool = False      # only the statements the exercises need ran (course_utils.grading.cell_slice)

    @property
    def total(self) -> int:
        return sum(v.passed for v in self.verdicts.values())


class KernelDied(Exception):
    """The worker ended while a student's function ran (``os._exit``, a crash, the memory limit)."""


class UnreadableResult(Exception):
    """The student's function returned something that is not plain data."""


class NotGraded(BaseException):
    """The worker could not be (re)started: the remaining exercises get no verdict but this."""


def _student_exception(type_name: str, message: str) -> Exception:
    """An exception that carries the name of the one the student's function raised."""
    name = re.sub(r"\W", "", str(type_name))[:60] or "Exception"
    if not name[0].isalpha():
        name = "Error" + name
    return type(name, (Exception,), {})(str(message)[:300])


class Session:
    """The sandboxed worker of one submission; restarted with bad cells skipped when needed."""

    def __init__(self, notebook_bytes: bytes, notebook_name: str, cells: list[str], names: list[str],
                 options: Options, run: list[str] | None = None, deadline: float | None = None):
        self.notebook_bytes, self.notebook_name = notebook_bytes, notebook_name
        self.cells, self.names, self.options = cells, names, options
        self.run = cells if run is None else run   # the source run of each cell ("" for none)
        self.sliced = run is not None
        self.missed_names = False   # a NameError or AttributeError, the sign of a slice too thin
        self.process: subprocess.Popen | None = None
        self.reader: wire.Reader | None = None
        self.starts = 0
        self.skipped: dict[int, str] = {}      # cell index -> why
        self.cell_errors: dict[int, str] = {}  # cell index -> the error, one line
        self.found: dict[str, str] = {}        # exercise function name -> "callable" / "missing" / ...
        self.hung: set[str] = set()            # functions that ran out of time once
        self.crashed: set[str] = set()         # functions that ended the kernel once
        self.audit: dict[str, set[str]] = {}
        self.log: list[str] = []
        self.out_of_time: str | None = None
        self.deadline = time.monotonic() + options.submission_timeout if deadline is None else deadline

    def _left(self) -> float:
        """Seconds left of the submission's whole budget; NotGraded when none are left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.kill()
            raise NotGraded(f"the submission used its {self.options.submission_timeout:g} s in all")
        return left

    # --- the worker's life ----------------------------------------------------------------

    def _send(self, header: dict, blobs=()):
        wire.send(self.process.stdin.fileno(), header, blobs)

    def _receive(self, seconds: float, expected: str) -> tuple[dict, list]:
        header, blobs = self.reader.receive(time.monotonic() + seconds)
        if header.get("ev") != expected and not (expected == "answer" and header.get("ev") in (
                "result", "raised", "timeout", "unreadable")):
            raise wire.WireError(f"an unexpected message {str(header.get('ev'))[:40]!r}")
        return header, blobs

    def kill(self):
        if self.process is not None:
            sandbox.stop(self.process)
        self.process, self.reader = None, None

    def start(self):
        """Start the worker and run the notebook, skipping cells that hang or end the kernel."""
        while True:
            if self.starts >= self.options.max_starts:
                raise NotGraded(f"the notebook's kernel was started {self.starts} times and failed each time")
            self._left()
            self.starts += 1
            self.process = sandbox.start(self.options.limits, self.options.sandboxed, self.options.privileged)
            self.reader = wire.Reader(self.process.stdout.fileno())
            try:
                self._receive(min(START_TIMEOUT_S, self._left()), "hello")
                self._send({"op": "setup", "notebook_name": self.notebook_name}, [self.notebook_bytes])
                self._receive(min(START_TIMEOUT_S, self._left()), "ready")
            except (wire.WireError, OSError) as error:  # no student code has run yet
                self._left()
                self.kill()
                raise NotGraded(f"the sandboxed kernel did not start ({error})") from None
            if self._run_cells():
                return

    def _run_cells(self) -> bool:
        """Run every cell not skipped; False if the worker had to be killed (then start again)."""
        deadline = time.monotonic() + self.options.notebook_timeout
        for index, source in enumerate(self.run):
            if index in self.skipped or not source.strip():
                continue
            limit = min(self.options.cell_timeout, deadline - time.monotonic(), self._left())
            if limit <= 0:
                self.out_of_time = (f"the notebook used its {self.options.notebook_timeout:g} s; "
                                    f"code cells {index + 1} to {len(self.cells)} were not run")
                self.log.append(self.out_of_time)
                break
            try:
                self._send({"op": "cell", "index": index + 1, "source": source, "time_limit": limit})
                header, _ = self._receive(limit + CALL_MARGIN_S, "cell_done")
            except wire.WireTimeout:
                why = f"did not finish within {limit:g} s and ignored the interruption"
            except (wire.WireClosed, OSError):
                why = f"ended the kernel (exit code {self._exit_code()})"
            except wire.WireError as error:
                why = f"sent the grader a malformed message ({error})"
            else:
                if header.get("error"):
                    self.cell_errors.setdefault(index, str(header["error"])[:300])
                    self.missed_names |= str(header["error"]).startswith(MISSED_NAME_ERRORS)
                continue
            self._left()     # a cell cut short by the submission's budget is not skipped: grading stops
            self.kill()
            self.skipped[index] = why
            self.log.append(f"code cell {index + 1} {why}; the notebook runs again without it")
            return False
        try:
            self._send({"op": "names", "names": self.names})
            header, _ = self._receive(min(START_TIMEOUT_S, self._left()), "names")
            found = header.get("found")
            self.found = {name: str(found.get(name, "missing"))[:100] for name in self.names}
            # A name missing from the slice but written somewhere in the notebook: perhaps bound
            # where the slice cannot see it (a name written nowhere is missing from every run).
            self.missed_names |= any(found == "missing" and re.search(rf"\b{re.escape(name)}\b", "\n".join(self.cells))
                                     for name, found in self.found.items())
        except (wire.WireError, OSError, AttributeError):
            self.kill()
            self.log.append("the kernel did not say which functions it defines")
            return False
        return True

    def _exit_code(self):
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "none yet"

    # --- calls ------------------------------------------------------------------------------

    def call(self, name: str, args: tuple, time_limit: float):
        """Call the student's ``name`` in the worker; returns its result as plain data.

        Raises what :func:`course_utils.checks.run_checker` reports: ``TimeLimitExceeded``
        when no answer comes in time, an exception named like the student's, KernelDied,
        UnreadableResult; NotGraded when the worker cannot be started again.
        """
        if name in self.hung:       # once per function: each hang costs a restart of the notebook
            raise TimeLimitExceeded()
        if name in self.crashed:
            raise KernelDied("an earlier call of this function ended the kernel")
        if self.process is None:
            self.start()
        time_limit = min(time_limit, self._left())
        blobs = []
        try:
            arguments = wire.encode(args, blobs)
        except wire.WireError as error:  # a checker's own case that cannot travel: a bug here
            raise RuntimeError(f"the grader cannot send this case: {error}") from None
        try:
            self._send({"op": "call", "name": name, "args": arguments, "time_limit": time_limit}, blobs)
            header, blobs = self._receive(time_limit + CALL_MARGIN_S, "answer")
        except wire.WireTimeout:
            self._left()
            self.kill()
            self.hung.add(name)
            raise TimeLimitExceeded() from None
        except (wire.WireClosed, OSError):
            code = self._exit_code()
            self.kill()
            self.crashed.add(name)
            raise KernelDied(f"the kernel ended during the call (exit code {code}): os._exit, "
                             "a crash or the memory limit") from None
        except wire.WireError as error:
            self.kill()
            raise UnreadableResult(f"the kernel sent something the grader refuses ({error})") from None
        except BaseException:  # e.g. the checker's own alarm in a main thread: never leave it running
            self.kill()
            raise
        audit = header.get("audit")
        if isinstance(audit, list):
            self.audit.setdefault(name, set()).update(m for m in audit if is_audited(m))
        event = header["ev"]
        if event == "timeout":
            self._left()       # cut short by the submission's budget: grading stops here
            raise TimeLimitExceeded()
        if event == "raised":
            self.missed_names |= str(header.get("type")) in MISSED_NAME_ERRORS
            raise _student_exception(header.get("type", "Exception"), header.get("message", ""))
        if event == "unreadable":
            raise UnreadableResult(f"returned {str(header.get('why'))[:200]}, which the grader cannot read back")
        try:
            return wire.decode(header.get("value"), blobs)
        except wire.WireError as error:
            raise UnreadableResult(f"returned {error}") from None


class RemoteFunction:
    """Stands for the student's function in the grader: each call runs in the sandbox."""

    def __init__(self, session: Session, name: str):
        self.session, self.name = session, name
        self.__name__ = name

    def __call__(self, *args):
        return self.session.call(self.name, args, checks.current_time_limit())


# --- start-up -----------------------------------------------------------------------------

def _uses_tensorflow(checker) -> bool:
    """Whether a checker (or a function of course_utils.checks it names) mentions TensorFlow or Keras."""
    seen, pending = set(), [checker]
    while pending:
        function = pending.pop()
        if not inspect.isfunction(function) or function in seen:     # names may be data (lists)
            continue
        seen.add(function)
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        if "tensorflow" in source or "keras" in source:
            return True
        codes = [function.__code__] + [c for c in function.__code__.co_consts if inspect.iscode(c)]
        pending += [getattr(checks, name) for code in codes for name in code.co_names if hasattr(checks, name)]
    return False


def warm_up(labels) -> threading.Thread | None:
    """Import TensorFlow in the background when a checker of ``labels`` needs it, so that its
    slow import overlaps the first notebooks' runs instead of delaying one of them."""
    if not any(_uses_tensorflow(checks.EXERCISES[label][1]) for label in labels):
        return None
    thread = threading.Thread(target=lambda: importlib.util.find_spec("tensorflow") and
                              importlib.import_module("tensorflow"), name="import-tensorflow")
    thread.start()
    return thread


# --- which exercises a notebook is scored on ---------------------------------------------

EXERCISE_LABEL = re.compile(r"```\{exercise\}[^\n]*\n(?::[^\n]*\n)*?:label:\s*(\S+)")


def chapter_exercises(book: Path) -> dict[str, list[str]]:
    """Chapter name (file stem) -> labels of the checked exercises it contains, in order."""
    chapters = {}
    for md in sorted(book.glob("*.md")):
        labels = [label for label in EXERCISE_LABEL.findall(md.read_text()) if label in checks.EXERCISES]
        if labels:
            chapters[md.stem] = labels
    return chapters


def exercises_for(notebook, path: Path, chapters: dict[str, list[str]], requested=None) -> list[str]:
    """``requested`` if given; else the exercises of the chapter the notebook came from (its
    ``course.chapter`` metadata, written by the student edition, or its file name); else all."""
    if requested:
        return list(requested)
    course = notebook.metadata.get("course") if notebook is not None else None
    chapter = course.get("chapter") if isinstance(course, dict) else None
    for candidate in (chapter, path.stem):
        if isinstance(candidate, str) and candidate in chapters:
            return chapters[candidate]
    return list(checks.EXERCISES)


# --- one submission ------------------------------------------------------------------------

def read_submission_bytes(path: Path, root: Path | None) -> bytes:
    """The bytes of ``path`` if it is a regular file inside ``root``, reached through no
    symbolic link; else ValueError. (A submission linked to /proc/self/environ or to any
    file the grader can read must not be read: the grader runs outside the sandbox.)"""
    if root is not None:     # no link anywhere below the submissions folder
        inside = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
        if os.path.realpath(path) != os.path.join(os.path.realpath(root), inside):
            raise ValueError("not graded: the notebook is reached through a link, not a plain file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise ValueError("not graded: the notebook could not be opened as a plain file") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not graded: not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"the file has {info.st_size} bytes, more than {MAX_NOTEBOOK_BYTES}")
        return file.read(MAX_NOTEBOOK_BYTES + 1)


def _read(path: Path, root: Path | None = None):
    """(raw bytes, notebook) or raises ValueError with a reason that quotes none of the
    file's content (a parser's message would: it goes into the feedback)."""
    raw = read_submission_bytes(path, root)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file has more than {MAX_NOTEBOOK_BYTES} bytes")
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception:
        raise ValueError(f"not a notebook ({len(raw)} bytes that are not notebook JSON)") from None
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(cell, dict) and isinstance(cell.get("source", ""), str) for cell in cells):
        raise ValueError("not a notebook: expected a list of cells with text sources")
    if not isinstance(notebook.get("metadata", {}), dict):
        raise ValueError("not a notebook: its metadata is not a mapping")
    return raw, notebook


def _grade_exercise(label: str, session: Session) -> Verdict:
    name, checker = checks.EXERCISES[label]
    found = session.found.get(name, "missing")
    if found == "missing":
        return Verdict(label, False, _("Not yet: no function named {name}").format(name=name))
    if found != "callable":
        kind = found.replace("not callable: ", "")
        return Verdict(label, False, _("Not yet: {name} is an object of type {kind}, not a function").format(
            name=name, kind=kind))
    try:
        with checks.fresh_cases(secrets.randbits(63)):     # cases no notebook can have tabulated
            result = checker(RemoteFunction(session, name))
    except NotGraded:
        raise
    except Exception as error:  # a failure of the checker itself, not of the student
        return Verdict(label, False, _("Not graded: the checker failed ({error})").format(
            error=f"{type(error).__name__}: {error}"))
    allowed = BUILDS_ON.get(label, ())
    borrowed = find_borrowed_work(session.cells, name, allowed)
    modules = {dotted.rsplit(".", 1)[0] for dotted in allowed}
    ran = {module for module in session.audit.get(name, ()) if module not in modules}
    if borrowed or ran:
        why = borrowed or (_("{name} ran alongside other Python threads, which the grader cannot audit").format(
            name=name) if THREADS in ran else _("{name} ran code from {modules} while it was checked").format(
            name=name, modules=", ".join(sorted(ran))))
        return Verdict(label, False, _("No credit: {why}; the exercise asks for your own implementation. "
                                       "(The checker said: {message})").format(why=why, message=result.message))
    return Verdict(label, bool(result.passed), result.message)


def _status(session: Session) -> str:
    parts = []
    errors = len(session.cell_errors)
    parts.append(f"ran with {errors} cell error(s)" if errors else "ok")
    for index, why in sorted(session.skipped.items()):
        parts.append(f"cell {index + 1} skipped ({why.split(' (')[0].split(' and ')[0]})")
    if session.out_of_time:
        parts.append(session.out_of_time.split("; ")[1])
    return "; ".join(parts)


def notebook_language(notebook) -> str:
    """The language of a notebook's edition: the student edition says it ("course":
    {"language": "ja"}); a chapter of the Japanese book carries its "translation" record."""
    metadata = notebook.get("metadata") or {}
    course = metadata.get("course")
    if isinstance(course, dict) and course.get("language") in ("en", "ja"):
        return course["language"]
    return "ja" if isinstance(metadata.get("translation"), dict) else "en"


def grade_submission(path: Path, root: Path, chapters: dict[str, list[str]], options: Options,
                     requested=None) -> SubmissionGrade:
    """Grade one notebook, with its feedback in the notebook's language; never raises for
    anything the notebook contains or does. The file is read once: the bytes graded are
    the bytes whose language was read."""
    began = time.monotonic()
    student = path.relative_to(root).as_posix()
    try:
        raw, notebook = _read(path, root)
    except Exception as error:  # a link, not UTF-8, not JSON, not a notebook, too large, unreadable
        labels = exercises_for(None, path, chapters, requested)
        verdicts = {label: Verdict(label, False, _("Not graded: the notebook could not be read")) for label in labels}
        return SubmissionGrade(student, f"unreadable ({type(error).__name__})", verdicts, [str(error)[:300]],
                               time.monotonic() - began)
    with using_language(notebook_language(notebook)):
        return _grade_notebook(path, student, raw, notebook, chapters, options, requested, began)


def _grade_notebook(path: Path, student: str, raw: bytes, notebook, chapters: dict[str, list[str]],
                    options: Options, requested, began: float) -> SubmissionGrade:
    labels = exercises_for(notebook, path, chapters, requested)
    cells = [cell.get("source", "") for cell in notebook.cells if cell.get("cell_type") == "code"]
    names = [checks.EXERCISES[label][0] for label in labels]
    run = None if options.all_cells else cell_slice.needed_sources(cells, names)
    deadline = time.monotonic() + options.submission_timeout   # for both runs together
    session, verdicts, status = _grade_cells(raw, path, cells, names, labels, options, run, deadline)
    log = []
    if session.sliced and session.missed_names:   # the slice may have left out a definition
        log.append("a name was missing when only the code the exercises need ran: every code cell ran again")
        session, verdicts, status = _grade_cells(raw, path, cells, names, labels, options, None, deadline)
    log += session.log + [f"code cell {i + 1}: {error}" for i, error in sorted(session.cell_errors.items())]
    return SubmissionGrade(student, status, verdicts, log, time.monotonic() - began, session.sliced)


def _grade_cells(raw: bytes, path: Path, cells: list[str], names: list[str], labels: list[str],
                 options: Options, run: list[str] | None, deadline: float) -> tuple[Session, dict[str, Verdict], str]:
    """One grading of the notebook, running ``run`` (every cell when None) until
    ``deadline``: the session, the verdicts and the status."""
    session = Session(raw, path.name, cells, names, options, run, deadline)
    verdicts, status = {}, None
    try:
        session.start()
        for label in labels:
            verdicts[label] = _grade_exercise(label, session)
    except NotGraded as reason:
        status = f"{_status(session)}; stopped: {reason}" if verdicts else f"not graded: {reason}"
    finally:
        session.kill()
    for label in labels:
        verdicts.setdefault(label, Verdict(label, False, _("Not graded ({status})").format(status=status)))
    return session, verdicts, status or _status(session)
