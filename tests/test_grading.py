"""The grader: verdicts outside the student's process, one sandbox per submission, nothing lost.

The adversarial corpus (tests/grading_corpus/corpus.py) is graded once, by the command an
instructor runs (``scripts/grade.py --jobs 2``), in the module fixture ``graded``; each
test then reads one thing off its result. The other tests are fast and need no sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import ROOT
from course_utils import checks, grading
from course_utils.grading import wire
from course_utils.grading.borrowed_work import find_borrowed_work

sys.path.insert(0, str(ROOT / "tests"))
from grading_corpus.corpus import EXPECTED, HONEST, SUBMISSIONS  # noqa: E402

GRADE = [sys.executable, str(ROOT / "scripts" / "grade.py")]
PACKAGE = ROOT / "course_utils"
PLANTED = PACKAGE / "_planted_by_corpus.py"


def write_notebook(path: Path, cells) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(cells, bytes):
        path.write_bytes(cells)
        return
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection it accepts."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.port, self.connections, self.running = self.socket.getsockname()[1], [], True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                connection, address = self.socket.accept()
            except OSError:
                continue
            self.connections.append(address)
            connection.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.socket.close()


def processes_with(word: str) -> list[str]:
    """Command lines of the processes (this one aside) whose command line contains ``word``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if word in command:
                found.append(command)
    return found


def sandbox_or_skip():
    """Skip without bubblewrap (under CI=true, conftest.py makes that skip a failure)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap; .ci/run installs it)")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole corpus once (the slow part of this file: about a minute on 2 cores)."""
    sandbox_or_skip()
    base = tmp_path_factory.mktemp("grading")
    submissions, out_dir = base / "submissions", base / "out"
    out_dir.mkdir()
    mark = f"corpus-{uuid.uuid4().hex[:12]}"
    listener = Listener()
    tokens = {"@OUT_DIR@": str(out_dir), "@SUBMISSIONS@": str(submissions), "@PACKAGE@": str(PACKAGE),
              "@PORT@": str(listener.port), "@MARK@": mark}
    for relative, cells in SUBMISSIONS.items():
        if not isinstance(cells, bytes):
            cells = [fill(source, tokens) for source in cells]
        write_notebook(submissions / relative, cells)
    honest_digest = hashlib.sha256((submissions / "honest.ipynb").read_bytes()).hexdigest()
    began = time.monotonic()
    grader = subprocess.Popen(GRADE + [str(submissions), "--out", str(out_dir / "grades.csv"), "--jobs", "2",
                                       "--cell-timeout", "10", "--memory-mb", "1024", "--submission-timeout", "30",
                                       "--all-cells"],   # every hostile cell runs, needed or not
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = grader.communicate(timeout=600)
    run = subprocess.CompletedProcess(grader.args, grader.returncode, stdout, stderr)
    seconds = time.monotonic() - began
    time.sleep(1)   # a surviving child of detached_child.ipynb would have written late.txt by now
    listener.close()
    leftovers = processes_with(mark)
    planted = PLANTED.exists()
    PLANTED.unlink(missing_ok=True)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {row["student"]: row for row in csv.DictReader(open(out_dir / "grades.csv"))}
    feedback = {(row["student"], row["exercise"]): row for row in
                csv.DictReader(open(out_dir / "grades-feedback.csv"))}
    print(f"corpus of {len(rows)} submissions graded in {seconds:.1f} s with --jobs 2")
    return dict(rows=rows, feedback=feedback, run=run, out_dir=out_dir, submissions=submissions,
                listener=listener, leftovers=leftovers, planted=planted, honest_digest=honest_digest,
                grader_pid=grader.pid)


def fill(source: str, tokens: dict) -> str:
    for token, value in tokens.items():
        source = source.replace(token, value)
    return source


def test_every_submission_has_one_row_and_checkpoints_none(graded):
    expected = {path for path in SUBMISSIONS if ".ipynb_checkpoints" not in path}
    assert set(graded["rows"]) == expected == set(EXPECTED)
    assert "group1/homework.ipynb" in graded["rows"] and "group2/homework.ipynb" in graded["rows"]
    progress = [line for line in graded["run"].stdout.splitlines() if line.startswith("[")]
    assert len(progress) == len(expected)


@pytest.mark.parametrize("student", list(EXPECTED))
def test_corpus_row(graded, student):
    row, expected = graded["rows"][student], EXPECTED[student]
    labels = list(checks.EXERCISES)
    scores = {label: int(row[label]) for label in labels}
    assert scores == {label: expected["scores"].get(label, 0) for label in labels}, row
    assert int(row["total"]) == expected["total"]
    assert row["status"] == expected["status"]
    for label, words in expected.get("feedback", {}).items():
        message = graded["feedback"][(student, label)]["message"]
        assert words in message, message
    if "log" in expected:
        assert expected["log"] in graded["feedback"][(student, "(notebook)")]["message"]


def test_nothing_outside_the_sandbox_was_touched(graded):
    out_dir, submissions = graded["out_dir"], graded["submissions"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "grades-canvas.csv", "grades-feedback", "grades-feedback.csv", "grades-progress", "grades-report.html",
        "grades-similar.csv", "grades.csv"]
    kept = list((out_dir / "grades-progress").iterdir())   # the grades kept for a resumed run, nothing else
    assert kept and all(re.fullmatch(r"[0-9a-f]{32}\.json", p.name) and p.is_file() for p in kept), kept
    assert hashlib.sha256((submissions / "honest.ipynb").read_bytes()).hexdigest() == graded["honest_digest"]
    assert not graded["planted"], "a submission created a file in the course package"


def test_each_student_gets_a_page_with_no_expected_value_and_no_solution(graded):
    """The hand-back of the corpus (course_utils.grading.handback): a page per notebook, in
    which no expected value that grades-feedback.csv quotes appears, nor any line of the
    book's solutions (the honest notebook's code shares some)."""
    from test_student_edition import html_text, leaks, solution_fingerprints
    out_dir, fingerprints = graded["out_dir"], solution_fingerprints()
    pages = {student: (out_dir / "grades-feedback" / Path(student).with_suffix(".html")).read_text(encoding="utf-8")
             for student in graded["rows"]}
    quoted = 0
    for (student, _label), row in graded["feedback"].items():
        for value in re.findall(r"expected (?:the integer |an array of shape )?(.+?), got", row["message"]):
            quoted += 1
            assert f"expected {value}" not in pages[student] and f"expected {value}" not in html_text(pages[student])
    assert quoted >= 3     # the corpus does quote expected values in the instructor's CSV
    assert {student: leaks(html_text(page), fingerprints) for student, page in pages.items()} == {
        student: [] for student in pages}
    report = (out_dir / "grades-report.html").read_text(encoding="utf-8")
    did_not_run = report.split("<h2>Notebooks that did not run in full</h2>")[1].split("<h2>")[0]
    assert "invalid_json.ipynb" in did_not_run and "honest.ipynb" not in did_not_run


def test_no_connection_reached_the_listener(graded):
    assert graded["listener"].connections == []


def test_no_process_survives_grading(graded):
    assert graded["leftovers"] == []
    assert not (graded["out_dir"] / "late.txt").exists()
    assert not [g for g in own_cgroups() if g.name.startswith(f"course-grading-{graded['grader_pid']}-")]


def own_cgroups() -> list[Path]:
    """The control groups below this process's own, in each hierarchy (none if none is used)."""
    from course_utils.grading import cgroups

    try:
        _, parents = cgroups._parents()
    except cgroups.Unavailable:
        return []
    return [group for parent in parents.values() for group in parent.iterdir() if group.is_dir()]


def test_the_grader_says_which_limits_hold(graded):
    """The first line names every limit; where the cgroup limits cannot be set, it says why."""
    lines = [line for line in graded["run"].stdout.splitlines() if line.startswith("limits")]
    assert len(lines) == 1, graded["run"].stdout[:2000]
    assert "address space 1024 MB" in lines[0] and "each submission at most 30 s in all" in lines[0]
    assert "/dev/shm 16 MB, /dev read-only" in lines[0]
    assert ("each sandbox as a whole (cgroup v" in lines[0]) != ("NOT in force: the memory, process" in lines[0])


def test_the_grade_csv_is_complete(graded):
    with open(graded["out_dir"] / "grades.csv") as file:
        header = next(csv.reader(file))
    assert header == ["student", "status", *checks.EXERCISES, "total", "out_of"]


# --- the command line, without grading anything -----------------------------------------------

def test_refuses_to_run_without_the_sandbox(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    (tmp_path / "subs").mkdir()
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv")],
                         capture_output=True, text=True, env=dict(os.environ, PATH=str(empty)), timeout=120)
    assert run.returncode == 2 and "apt-get install bubblewrap" in run.stderr and "--no-sandbox" in run.stderr


def test_checks_the_output_folder_before_grading(tmp_path):
    (tmp_path / "subs").mkdir()
    write_notebook(tmp_path / "subs" / "a.ipynb", ["while True:\n    pass"])
    began = time.monotonic()
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "missing" / "g.csv")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "does not exist" in run.stderr
    assert "[1/1]" not in run.stdout and time.monotonic() - began < 60


def test_rejects_unknown_exercises(tmp_path):
    (tmp_path / "subs").mkdir()
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--exercises", "ex-nope"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "ex-nope" in run.stderr


def test_no_sandbox_warns_and_scores_the_chapter_only(tmp_path):
    (tmp_path / "subs").mkdir()
    write_notebook(tmp_path / "subs" / "02_stride.ipynb", [SUBMISSIONS["honest.ipynb"][0],
                                                           SUBMISSIONS["honest.ipynb"][2]])
    (tmp_path / "cwd").mkdir()
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--no-sandbox"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path / "cwd")
    assert run.returncode == 0, run.stderr
    assert list((tmp_path / "cwd").iterdir()) == []     # the notebook ran in a folder of its own
    assert "WARNING" in run.stderr and "trust" in run.stderr
    row = next(csv.DictReader(open(tmp_path / "g.csv")))
    assert (row["ex-output-size"], row["ex-conv-stride"], row["ex-conv-single"]) == ("1", "0", "")
    assert row["out_of"] == "2"


def test_a_linked_submission_is_not_read_and_nothing_of_it_is_quoted(tmp_path):
    """A notebook that is a symbolic link (to /proc/self/environ, or to any file the grader
    can read), or that sits in a linked folder, is not graded, and no byte of its target
    reaches the feedback; a file that is not notebook JSON is named by its size only."""
    secret = tmp_path / "secret.txt"
    secret.write_text("MNIST_PATH=TOP-SECRET-VALUE\n" * 3)
    outside = tmp_path / "outside"
    write_notebook(outside / "02_stride.ipynb", [SUBMISSIONS["honest.ipynb"][2]])
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "environ.ipynb").symlink_to("/proc/self/environ")
    (subs / "secret.ipynb").symlink_to(secret)
    (subs / "linked-folder").symlink_to(outside, target_is_directory=True)
    (subs / "borrowed.ipynb").symlink_to(outside / "02_stride.ipynb")    # a valid notebook, elsewhere
    (subs / "garbage.ipynb").write_text("MNIST_PATH=TOP-SECRET-VALUE, not JSON")
    run = subprocess.run(GRADE + [str(subs), "--out", str(tmp_path / "g.csv"), "--no-sandbox",
                                  "--exercises", "ex-output-size"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "MNIST_PATH": "TOP-SECRET-VALUE"})
    assert run.returncode == 0, run.stderr
    written = (tmp_path / "g.csv").read_text() + (tmp_path / "g-feedback.csv").read_text()
    assert "SECRET" not in written and "MNIST_PATH" not in written
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "g.csv"))}
    for student in ("environ.ipynb", "secret.ipynb", "garbage.ipynb", "borrowed.ipynb"):
        assert rows[student]["status"].startswith("unreadable") and rows[student]["ex-output-size"] == "0", rows
    linked = [s for s in rows if s.startswith("linked-folder")]     # not searched, or not read
    assert all(rows[s]["status"].startswith("unreadable") for s in linked), rows
    assert "not a notebook (" in (tmp_path / "g-feedback.csv").read_text()


def test_the_feedback_speaks_the_language_of_the_notebook(tmp_path):
    """A notebook of the Japanese student edition ("course": {"language": "ja"}) gets its
    verdicts in Japanese, an English one in English, in one run."""
    wrong = "def my_output_size(W, H, s=1, P=0):\n    return W - H\n"
    for name, language in (("en.ipynb", None), ("ja.ipynb", "ja")):
        write_notebook(tmp_path / "subs" / name, [wrong])
        if language:
            notebook = nbformat.read(tmp_path / "subs" / name, as_version=4)
            notebook.metadata["course"] = {"chapter": "02_stride", "language": language}
            nbformat.write(notebook, tmp_path / "subs" / name)
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--no-sandbox",
                                  "--exercises", "ex-output-size,ex-conv-stride"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = {(r["student"], r["exercise"]): r["message"] for r in csv.DictReader(open(tmp_path / "g-feedback.csv"))}
    assert rows["en.ipynb", "ex-output-size"].startswith("Not yet: output size"), rows
    assert rows["ja.ipynb", "ex-output-size"].startswith("未合格: "), rows
    assert rows["en.ipynb", "ex-conv-stride"] == "Not yet: no function named my_strided_conv"
    assert rows["ja.ipynb", "ex-conv-stride"] == "未合格: my_strided_conv という名前の関数がない"


def test_a_notebook_of_endless_cells_stops_at_its_time_budget(tmp_path):
    sandbox_or_skip()
    (tmp_path / "subs").mkdir()
    write_notebook(tmp_path / "subs" / "loops.ipynb", ["while True:\n    pass"] * 50 + [SUBMISSIONS["honest.ipynb"][2]])
    began = time.monotonic()
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--cell-timeout", "2",
                                  "--notebook-timeout", "5", "--exercises", "ex-output-size",
                                  "--all-cells"],   # the loops are needed by no exercise
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    row = next(csv.DictReader(open(tmp_path / "g.csv")))
    assert re.search(r"code cells \d to 51 were not run", row["status"]) and row["ex-output-size"] == "0"
    assert time.monotonic() - began < 120


def grade_one(tmp_path, cells, *options) -> tuple[dict, str]:
    """Grade one notebook of ``cells`` on ex-output-size: its CSV row and its feedback."""
    (tmp_path / "subs").mkdir(parents=True)
    write_notebook(tmp_path / "subs" / "one.ipynb", cells)
    run = subprocess.run(GRADE + [str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--cell-timeout", "5",
                                  "--exercises", "ex-output-size", *options], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    feedback = [row["message"] for row in csv.DictReader(open(tmp_path / "g-feedback.csv"))]
    return next(csv.DictReader(open(tmp_path / "g.csv"))), "\n".join(feedback)


# Cells a chapter has that no exercise needs: a long computation and a cell that raises.
UNNEEDED = ["import time\ntime.sleep(60)", "figure = 1 / 0"]


def test_only_the_statements_the_exercises_need_run_and_all_cells_runs_every_cell(tmp_path):
    sandbox_or_skip()
    cells = [SUBMISSIONS["honest.ipynb"][0], *UNNEEDED, HONEST["my_output_size"]]
    began = time.monotonic()
    row, _ = grade_one(tmp_path / "sliced", cells)
    assert (row["status"], row["ex-output-size"]) == ("ok", "1")
    assert time.monotonic() - began < 30, "the sleeping cell ran"
    row, feedback = grade_one(tmp_path / "all", cells, "--all-cells")
    assert row["ex-output-size"] == "1" and row["status"] == "ran with 2 cell error(s)", row["status"]
    assert "ZeroDivisionError" in feedback


def test_a_definition_the_slice_cannot_see_makes_the_whole_notebook_run(tmp_path):
    """A function that changes a value passed to it is not seen to change it: the slice
    leaves out the call, the answer raises AttributeError, and the whole notebook runs."""
    sandbox_or_skip()
    cells = [SUBMISSIONS["honest.ipynb"][0], "class Settings:\n    pass\nsettings = Settings()",
             "def configure(s):\n    s.padding_factor = 2", "configure(settings)",
             "def my_output_size(W, H, s=1, P=0):\n    return (W + settings.padding_factor * P - H) // s + 1"]
    row, feedback = grade_one(tmp_path, cells)
    assert (row["status"], row["ex-output-size"]) == ("ok", "1")
    assert "every code cell ran again" in feedback


UNPRIVILEGED_CELLS = [
    SUBMISSIONS["honest.ipynb"][0], SUBMISSIONS["honest.ipynb"][2],
    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
    "except OSError as error:\n    raise RuntimeError('no network')",
    "import errno\ntry:\n    open('/dev/planted', 'w')\nexcept OSError as error:\n"
    "    raise RuntimeError(f'/dev: {errno.errorcode[error.errno]}')",
    "import errno\nwritten = 0\ntry:\n    with open('/dev/shm/big', 'wb') as file:\n        for _ in range(64):\n"
    "            file.write(b'x' * 2**20)\n            written += 1\nexcept OSError as error:\n"
    "    raise RuntimeError(f'/dev/shm: {errno.errorcode[error.errno]} after {written} MiB')",
    "import os\nraise RuntimeError(f'sees {len([p for p in os.listdir(\"/proc\") if p.isdigit()])} processes')",
]
AS_NOBODY = """
import json, sys
from pathlib import Path
from course_utils import grading
from course_utils.grading import sandbox
root = Path(sys.argv[1])
options = grading.Options(cell_timeout=30, all_cells=True)
grade = grading.grade_submission(root / "one.ipynb", root, {}, options, ["ex-output-size"])
print(json.dumps(dict(uid=__import__("os").getuid(), unusable=sandbox.sandbox_available(), log=grade.log,
                      passed=grade.verdicts["ex-output-size"].passed, status=grade.status,
                      command=sandbox.worker_command(options.limits)[0][:2],
                      report=sandbox.limits_report(options.limits))))
"""


def python_for(prefix: list[str], venv: Path) -> str:
    """A Python that the unprivileged user can run, with this environment's packages: this
    one; or, where its files are out of that user's reach (an interpreter under /root), the
    system's Python of the same version in a small virtual environment that adds ours."""
    if subprocess.run(prefix + ["test", "-r", os.path.realpath(sys.executable)]).returncode == 0:
        return sys.executable
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        pytest.skip(f"an unprivileged user cannot read {os.path.realpath(sys.executable)}, and there is no {system}")
    site = venv / "lib" / system.name / "site-packages"
    site.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(system)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    ours = [entry for entry in sys.path if entry.endswith("site-packages")]
    (site / "ours.pth").write_text("".join(f"import site; site.addsitedir({entry!r})\n" for entry in ours))
    for path in [venv, *venv.rglob("*")]:
        path.chmod(0o755) if path.is_dir() else None
    return str(venv / "bin" / "python")


def test_without_root_the_sandbox_holds_as_a_real_unprivileged_user():
    """The whole grading of one notebook by a real unprivileged user (uid 65534 through
    setpriv when the test runs as root): no network, /dev read-only, /dev/shm of 16 MB, its
    own process namespace; and the grader says which limits it cannot set without root."""
    sandbox_or_skip()
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing: cannot become an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="grading-unprivileged-"))
    try:
        folder.chmod(0o755)
        write_notebook(folder / "one.ipynb", UNPRIVILEGED_CELLS)
        (folder / "one.ipynb").chmod(0o644)
        python = python_for(prefix, folder / "venv")
        run = subprocess.run(prefix + [python, "-c", AS_NOBODY, str(folder)], capture_output=True,
                             text=True, timeout=300, cwd=folder, env={**os.environ, "HOME": str(folder)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.splitlines()[-1])
    if result["unusable"]:
        pytest.skip(f"an unprivileged user cannot run the sandbox here: {result['unusable']}")
    assert result["uid"] != 0 and result["command"] == ["bwrap", "--unshare-user"]
    assert result["passed"], result
    log = " ".join(result["log"])
    assert "no network" in log and "/dev: EROFS" in log, log
    assert re.search(r"/dev/shm: ENOSPC after 1[56] MiB", log), log
    assert re.search(r"sees [1-3] processes", log), log
    assert "NOT in force: the memory, process and CPU limits" in result["report"], result["report"]
    assert "a user namespace instead" in result["report"]


def cgroups_or_skip():
    from course_utils.grading import cgroups

    version, why = cgroups.probe(256, 64, 0.25)
    if version is None:
        pytest.skip(f"no control group can be made here: {why}")


def _log_of_one_cell(tmp_path, cell: str, cell_timeout: float, limits) -> str:
    """Grade a notebook of one cell in the sandbox under ``limits``; its log, as one line."""
    write_notebook(tmp_path / "one.ipynb", [cell])
    options = grading.Options(cell_timeout=cell_timeout, limits=limits, all_cells=True)   # no exercise needs it
    return " ".join(grading.grade_submission(tmp_path / "one.ipynb", tmp_path, {}, options, ["ex-output-size"]).log)


def test_a_sandbox_gets_its_memory_however_many_processes_it_starts(tmp_path):
    """Four children of 96 MB each, under the per-process limit (256 MB of address space),
    together over the sandbox's 256 MB: the control group stops them (without it, all
    four hold their memory at once)."""
    sandbox_or_skip()
    cgroups_or_skip()
    hold = ("import os, time\nchildren = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        try:\n            hold = b'x' * (96 * 2**20)\n            time.sleep(1)\n            os._exit(0)\n"
            "        except BaseException:\n            os._exit(1)\n    children.append(pid)\n"
            "raise RuntimeError(f'children {[os.waitpid(pid, 0)[1] for pid in children]}')")
    log = _log_of_one_cell(tmp_path, hold, 60, grading.submission.sandbox.Limits(memory_mb=256))
    codes = re.search(r"children \[([\d, ]+)\]", log)
    assert codes and any(int(code) for code in codes[1].split(",")), log


def test_a_sandbox_gets_its_cpu_share_however_many_processes_it_starts(tmp_path):
    """Two children that each need 0.1 s of CPU, in a sandbox limited to a tenth of a CPU:
    together they wait at least 2 s of wall time for it (without the limit, well under 1 s,
    even on a machine busy with ten other processes)."""
    sandbox_or_skip()
    cgroups_or_skip()
    spin = ("import os, time\nbegan = time.monotonic()\nchildren = []\nfor _ in range(2):\n    pid = os.fork()\n"
            "    if pid == 0:\n        while time.process_time() < 0.1:\n            pass\n        os._exit(0)\n"
            "    children.append(pid)\nfor pid in children:\n    os.waitpid(pid, 0)\n"
            "raise RuntimeError(f'wall {time.monotonic() - began:.2f}')")
    log = _log_of_one_cell(tmp_path, spin, 30, grading.submission.sandbox.Limits(cpus=0.1))
    wall = float(re.search(r"wall (\d+\.\d+)", log)[1])
    assert wall > 1.5, log


HOLD_UIDS = """
import sys
from pathlib import Path
from course_utils.grading import sandbox
sandbox.UID_LOCKS = Path(sys.argv[1])
print(" ".join(str(sandbox._take_uid()[0]) for _ in range(5)), flush=True)
sys.stdin.read()
"""


def test_two_grading_processes_never_hand_out_the_same_uid(tmp_path):
    """Two processes (say two Dask workers on one machine) each hold five sandbox uids at
    once: ten different uids."""
    locks = tmp_path / "uids"
    holders = [subprocess.Popen([sys.executable, "-c", HOLD_UIDS, str(locks)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        taken = [set(map(int, holder.stdout.readline().split())) for holder in holders]
    finally:
        for holder in holders:
            holder.communicate("", timeout=30)
    assert all(len(uids) == 5 for uids in taken) and not taken[0] & taken[1], taken


# --- the parts, in this process ---------------------------------------------------------------

def test_a_file_name_is_not_run_as_a_spreadsheet_formula():
    sys.path.insert(0, str(ROOT / "scripts"))
    import grade

    assert grade.spreadsheet_safe("=HYPERLINK(\"x\").ipynb") == "'=HYPERLINK(\"x\").ipynb"
    assert grade.spreadsheet_safe("ada.ipynb") == "ada.ipynb" and grade.spreadsheet_safe(3) == 3


def test_chapters_name_their_exercises():
    chapters = grading.chapter_exercises(ROOT / "book")
    assert chapters["02_stride"] == ["ex-output-size", "ex-conv-stride"]
    found = {label for labels in chapters.values() for label in labels}
    assert found <= set(checks.EXERCISES) and set(EXPECTED["honest.ipynb"]["scores"]) <= found
    notebook = nbformat.v4.new_notebook(metadata={"course": {"chapter": "04_pooling"}})
    assert grading.exercises_for(notebook, Path("x.ipynb"), chapters) == ["ex-max-pool", "ex-avg-pool"]
    assert grading.exercises_for(notebook, Path("x.ipynb"), chapters, ["ex-col2im"]) == ["ex-col2im"]
    assert grading.exercises_for(None, Path("hw.ipynb"), chapters) == list(checks.EXERCISES)


def test_the_wire_carries_plain_data_only():
    blobs = []
    value = (np.arange(6.0).reshape(2, 3), [1, (2, "s")], None, True, np.int64(7), 2.5)
    decoded = wire.decode(wire.encode(value, blobs), blobs)
    assert decoded[1:4] == ([1, (2, "s")], None, True) and decoded[4] == 7 and decoded[5] == 2.5
    np.testing.assert_array_equal(decoded[0], value[0])
    for bad in ({"a": 1}, np.array([object()]), lambda: 0, "x" * 20_000, 10**5000, [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]):
        with pytest.raises(wire.WireError):
            wire.encode(bad, [])
    import io
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for node, blobs in [({"a": 0}, [pickled.getvalue()]), ({"a": 0}, [b"garbage"]), ({"x": 1}, []),
                        ({"a": 5}, []), ({"l": [{"i": "1"}], "t": []}, [])]:
        with pytest.raises(wire.WireError):
            wire.decode(node, blobs)


def test_a_malformed_message_is_refused():
    read, write = os.pipe()
    os.write(write, (10**12).to_bytes(8, "big"))
    with pytest.raises(wire.WireError):
        wire.Reader(read).receive(time.monotonic() + 5)
    os.write(write, (3).to_bytes(8, "big") + b"{no")
    with pytest.raises(wire.WireError):
        wire.Reader(read).receive(time.monotonic() + 5)
    with pytest.raises(wire.WireTimeout):
        wire.Reader(read).receive(time.monotonic() + 0.2)
    os.close(write)
    with pytest.raises(wire.WireClosed):
        wire.Reader(read).receive(time.monotonic() + 5)
    os.close(read)


def test_a_message_too_large_is_refused_before_its_bytes_are_read():
    """The announced sizes are refused at once (a WireError, not a wait for bytes that never
    come); a message too large is not sent at all."""
    read, write = os.pipe()
    header = json.dumps({"ev": "result", "blobs": 2}).encode()
    os.write(write, len(header).to_bytes(8, "big") + header + wire.MAX_MESSAGE_BYTES.to_bytes(8, "big"))
    with pytest.raises(wire.WireError, match="a message of more than") as refused:
        wire.Reader(read).receive(time.monotonic() + 2)
    assert not isinstance(refused.value, wire.WireTimeout)
    with pytest.raises(wire.WireError, match="at most"):
        wire.send(write, {"ev": "result"}, [bytes(wire.MAX_MESSAGE_BYTES)])
    os.close(write)
    assert os.read(read, 10) == b""      # nothing of it was written
    os.close(read)


@pytest.mark.parametrize("cells, words", [
    (["from course_utils.ops import max_pool2d as mp", "my_max_pool = mp"], "course_utils.ops.max_pool2d"),
    (["import keras", "def my_max_pool(z, size, stride=None):\n    return keras.ops.max(z)"], "keras.ops.max"),
    (["import scipy", "def my_max_pool(z, size, stride=None):\n    return scipy.ndimage.maximum_filter(z, size)"],
     "scipy.ndimage"),
    (["def my_max_pool(z, size, stride=None):\n    import tensorflow as tf\n    return tf.nn.max_pool2d(z)"],
     "tensorflow"),
    (["import numpy as np", "def my_max_pool(z, size, stride=None):\n    return eval('np.max(z)')"], "eval"),
    (["exec('def my_max_pool(z, size): return 0')"], "not defined by a plain `def`"),
    # bindings outside the function's own definition: a module attribute set in another
    # cell, a global rebound inside a function, a loop's target, a walrus, a `with ... as`
    (["import numpy as np\nfrom course_utils import ops", "setattr(np, 'pool', ops.max_pool2d)",
      "def my_max_pool(z, size, stride=None):\n    return np.pool(z, size)"], "numpy.pool"),
    (["import numpy as np\nfrom course_utils import ops", "np.pool = 0\nsetattr(np, 'p' + 'ool', ops.max_pool2d)",
      "def my_max_pool(z, size, stride=None):\n    return np.pool(z, size)"], "numpy.pool"),
    (["from course_utils import ops", "def set_up():\n    global pool\n    pool = ops.max_pool2d\nset_up()",
      "def my_max_pool(z, size, stride=None):\n    return pool(z, size)"], "course_utils.ops.max_pool2d"),
    (["from course_utils import ops", "for pool in [ops.max_pool2d]:\n    pass",
      "def my_max_pool(z, size, stride=None):\n    return pool(z, size)"], "course_utils.ops.max_pool2d"),
    (["from course_utils import ops", "table = {}\ntable['pool'] = ops.max_pool2d",
      "def my_max_pool(z, size, stride=None):\n    return table['pool'](z, size)"], "course_utils.ops.max_pool2d"),
    (["from course_utils import ops", "if (pool := ops.max_pool2d):\n    pass",
      "def my_max_pool(z, size, stride=None):\n    return pool(z, size)"], "course_utils.ops.max_pool2d"),
    (["import contextlib\nfrom course_utils import ops", "with contextlib.nullcontext(ops.max_pool2d) as pool:\n    pass",
      "def my_max_pool(z, size, stride=None):\n    return pool(z, size)"], "course_utils.ops.max_pool2d"),
])
def test_borrowed_work_is_found_in_the_source(cells, words):
    found = find_borrowed_work(cells, "my_max_pool")
    assert found and words in found, found


def test_own_work_is_not_flagged_even_in_a_chapter_that_imports_the_reference():
    cells = ["import numpy as np\nimport keras\nfrom course_utils.ops import max_pool2d\nz = max_pool2d(np.ones((4, 4, 1)), 2)",
             "def my_max_pool(z, size, stride=None):\n    s = stride or size\n    return z[::s, ::s]"]
    assert find_borrowed_work(cells, "my_max_pool") is None


def test_an_exercise_may_use_the_course_functions_it_builds_on():
    allowed = grading.BUILDS_ON["ex-fit-filter"]
    cells = ["from course_utils.ops import conv2d\nfrom course_utils import backprop",
             "def my_fit_filter(x, u, H, steps=500):\n    h = 0\n    for _ in range(steps):\n"
             "        r = conv2d(x, h) - u\n        h = h - backprop.conv2d_filter_gradient(x, r, H)\n    return h"]
    assert find_borrowed_work(cells, "my_fit_filter", allowed) is None
    assert "conv2d" in find_borrowed_work(cells, "my_fit_filter")
    shortcut = ["from course_utils.checks import _least_squares_filter",
                "def my_fit_filter(x, u, H):\n    return _least_squares_filter(x, u, H)"]
    assert "_least_squares_filter" in find_borrowed_work(shortcut, "my_fit_filter", allowed)


def test_the_worker_records_entries_into_the_course_package():
    from course_utils import ops
    from course_utils.grading import worker as grading_worker

    audit = grading_worker._Audit()
    sys.setprofile(audit.hook)
    try:
        ops.conv2d(np.ones((4, 4, 1)), np.ones((2, 2, 1, 1)))
        np.sum(np.ones(3))
    finally:
        sys.setprofile(None)
    assert audit.seen == {"course_utils.ops"}       # numpy is not recorded
    from course_utils.grading.policy import THREADS, is_audited

    assert is_audited("scipy.signal") and is_audited("course_utils.checks") and is_audited(THREADS)
    assert not is_audited("numpy") and not is_audited(["keras"]) and not is_audited("scipyx")


def test_the_reference_is_computed_before_the_student_runs_and_on_its_own_copy():
    def mutating(layers):
        answer = [1] * len(layers)
        layers.append((1000, 1))           # would change a reference computed afterwards
        layers[0] = (99, 99)
        return answer

    seen = []

    def reference(layers):
        seen.append([tuple(layer) for layer in layers])
        return np.arange(len(layers))

    case = checks.Case(([(3, 1), (3, 1)],), "two layers")
    checks.run_checker("mutation", mutating, reference, [case])
    assert seen[0] == [(3, 1), (3, 1)] and case.args == ([(3, 1), (3, 1)],)


def test_the_books_own_answers_are_credited():
    """Each chapter's solution of each of its exercises passes the borrowed-work check, with
    what the exercise builds on (chapter 5's strided input gradient calls same_padding)."""
    for chapter, labels in grading.chapter_exercises(ROOT / "book").items():
        notebook = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        for label in labels:
            name = checks.EXERCISES[label][0]
            assert find_borrowed_work(cells, name, grading.BUILDS_ON.get(label, ())) is None, (chapter, label)
