"""The grading worker: runs one student's notebook inside the sandbox and answers calls.

Started by the grader (``python -I -m course_utils.grading.worker``) inside a sandbox, one
per submission. It talks to the grader only through its original stdin and stdout, in the
plain-data format of :mod:`course_utils.grading.wire`; the student's own output goes to
``/dev/null``. The grader drives it one step at a time:

- ``setup``: write the submitted notebook into the (empty) working folder and replace the
  course's checkers by stubs, so that checker calls in the notebook cost nothing;
- ``cell``: run one code cell (IPython magics and shell commands are skipped), under a
  time limit; report the error, if any, in one line;
- ``names``: say which of the exercise names are defined, and whether they are callable;
- ``call``: call one of them on the arguments sent, under a time limit, and send back the
  result as plain data, the exception it raised, or that it ran out of time; also which
  modules the grader does not credit (the course's reference, Keras, TensorFlow, SciPy's
  convolutions) ran during the call.

Nothing the worker sends is trusted: the grader computes every verdict in its own
process, and a worker that stops answering is killed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path

from course_utils.grading import wire
from course_utils.grading.cell_slice import python_source
from course_utils import time_limit
from course_utils.grading.policy import NOT_CREDITED, THREADS
from course_utils.time_limit import TimeLimitExceeded

STUB_MESSAGE = "(the grader runs this check itself, outside the notebook)"


def _other_python_threads() -> int:
    """Threads other than this one that run Python code (BLAS's own threads do not count)."""
    return len(sys._current_frames()) - 1


def _module_folders() -> dict[str, str]:
    """Folder of each module in NOT_CREDITED that is installed, found without importing it."""
    folders = {}
    for name in NOT_CREDITED:
        top, _, rest = name.partition(".")
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        base = Path(list(spec.submodule_search_locations)[0])
        folders[name] = str(base.joinpath(*rest.split(".")) if rest else base) + os.sep
    return folders


class _Audit:
    """Records which NOT_CREDITED modules run Python code while a student's function runs."""

    def __init__(self):
        self.folders = _module_folders()
        self.own_files = {str(Path(module.__file__).resolve()) for module in (sys.modules[__name__], wire, time_limit)}
        self.seen: set[str] = set()

    def _watched(self, filename: str) -> str | None:
        for name, folder in self.folders.items():
            if filename.startswith(folder) and filename not in self.own_files:
                if name == "course_utils":   # which module: an exercise may build on one
                    name += "." + Path(filename[len(folder):]).with_suffix("").as_posix().replace("/", ".")
                return name
        return None

    def hook(self, frame, event, arg):
        """Record each entry into a watched module from code outside them (not their inner calls)."""
        if event == "call":
            name = self._watched(frame.f_code.co_filename)
            if name and (frame.f_back is None or self._watched(frame.f_back.f_code.co_filename) is None):
                self.seen.add(name)


def _neutralise_checkers() -> None:
    try:
        from course_utils import checks
    except Exception:  # the notebook will report its own import errors
        return

    def stub(*args, **kwargs):
        return STUB_MESSAGE

    for name in dir(checks):
        if name.startswith("check_") or name == "run_checker":
            setattr(checks, name, stub)


class _Shell:
    """Stands in for IPython's ``get_ipython()``: magics, shell commands and hooks do nothing."""

    def __getattr__(self, name):
        return _Shell()

    def __call__(self, *args, **kwargs):
        return None


_SHELL = _Shell()


def _one_line(error: BaseException) -> str:
    try:
        text = str(error)
    except BaseException:  # a student's exception whose __str__ fails
        text = "(no message)"
    name = type(error).__name__ if not isinstance(error, TimeLimitExceeded) else "time limit"
    return f"{name}: {text}"[:300]


class Worker:
    def __init__(self, reader: wire.Reader, out_fd: int):
        self.reader, self.out_fd = reader, out_fd
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__, "get_ipython": lambda: _SHELL}
        self.audit = _Audit()

    def reply(self, header: dict, blobs=()) -> None:
        wire.send(self.out_fd, header, blobs)

    def setup(self, header, blobs):
        name = Path(str(header.get("notebook_name", "submission.ipynb"))).name or "submission.ipynb"
        if blobs:
            Path(name).write_bytes(blobs[0])
        _neutralise_checkers()
        self.reply({"ev": "ready"})

    def cell(self, header, blobs):
        error = None
        try:
            code = compile(python_source(str(header["source"])), f"<cell {header.get('index')}>", "exec")
            with time_limit.time_limit(float(header["time_limit"])):
                exec(code, self.namespace)
        except BaseException as raised:  # the student's error, SystemExit and time limit included
            error = _one_line(raised)
        self.reply({"ev": "cell_done", "error": error})

    def names(self, header, blobs):
        found = {}
        for name in header["names"]:
            if name not in self.namespace:
                found[name] = "missing"
            else:
                value = self.namespace[name]
                found[name] = "callable" if callable(value) else f"not callable: {type(value).__name__}"
        self.reply({"ev": "names", "found": found})

    def call(self, header, blobs):
        args = wire.decode(header["args"], blobs)
        function = self.namespace.get(str(header["name"]))
        self.audit.seen = set()
        outcome = {"ev": "timeout"}
        result = None
        threads_before = _other_python_threads()
        try:
            with time_limit.time_limit(float(header["time_limit"])):
                threading.setprofile(self.audit.hook)   # threads the call starts are audited too
                sys.setprofile(self.audit.hook)
                try:
                    result = function(*args)
                finally:
                    sys.setprofile(None)
                    threading.setprofile(None)
            outcome = {"ev": "result"}
        except TimeLimitExceeded:
            pass
        except BaseException as raised:  # reported to the grader, which words the verdict
            outcome = {"ev": "raised", "type": type(raised).__name__[:80],
                       "message": _one_line(raised).split(": ", 1)[1]}
        # A thread that was running before the call, or still runs after it, escapes the
        # profile hook (Python 3.11 cannot install it in a running thread): no credit.
        if threads_before or _other_python_threads():
            self.audit.seen.add(THREADS)
        outcome["audit"] = sorted(self.audit.seen)
        out_blobs = []
        if outcome["ev"] == "result":
            try:
                outcome["value"] = wire.encode(result, out_blobs)
            except wire.WireError as why:
                outcome, out_blobs = {"ev": "unreadable", "why": str(why), "audit": outcome["audit"]}, []
        try:
            self.reply(outcome, out_blobs)
        except wire.WireError as why:   # too large to send: nothing was written
            self.reply({"ev": "unreadable", "why": str(why), "audit": outcome["audit"]})

    def serve(self):
        self.reply({"ev": "hello"})
        while True:
            header, blobs = self.reader.receive()
            operation = getattr(self, str(header.get("op")), None) if header.get("op") in (
                "setup", "cell", "names", "call") else None
            if operation is None:
                return
            operation(header, blobs)


def main() -> None:
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    Worker(wire.Reader(protocol_in), protocol_out).serve()


if __name__ == "__main__":
    main()
