"""The Makefile's choice of Python (scripts/find_python.sh), on a PATH of fake interpreters:
the newest python3.X in the supported range that runs, PYTHON=... when named, and a message
that names the range and what to install when none fits. Also: the range is stated alike in
pyproject.toml, the chooser, the README and binder/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_wheels import supported_pythons

ROOT = Path(__file__).resolve().parents[1]
CHOOSER = ROOT / "scripts" / "find_python.sh"
REAL = Path(sys.executable)   # this test's own Python (3.11 to 3.13)


def fake(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def reports(version: str, venv: bool = True) -> str:
    """A fake interpreter that answers the chooser's probe as Python `version` would."""
    return f'echo "{version} {"venv" if venv else "no-venv"}"'


NOT_RUNNING = 'echo "pyenv: ${0##*/}: command not found" >&2; exit 127'


def choose(folder: Path, *args: str, python: str | None = None, env: dict | None = None):
    """Run the chooser with only `folder` on PATH: (exit status, stdout, stderr)."""
    environment = {"PATH": str(folder), **({"PYTHON": python} if python else {}), **(env or {})}
    result = subprocess.run(["/bin/sh", str(CHOOSER), *args], env=environment,
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout.strip(), result.stderr


def test_the_newest_that_runs_in_the_range_is_chosen(tmp_path):
    fake(tmp_path, "python3.14", reports("3.14.0"))     # too new: never tried
    fake(tmp_path, "python3.13", NOT_RUNNING)            # a pyenv shim without its version
    fake(tmp_path, "python3.12", reports("3.12.4"))
    fake(tmp_path, "python3.11", reports("3.11.9"))
    fake(tmp_path, "python3", reports("3.14.0"))
    status, out, err = choose(tmp_path)
    assert (status, out) == (0, str(tmp_path / "python3.12"))
    assert err == f"Using python3.12 (3.12.4) at {tmp_path / 'python3.12'}\n"


def test_a_python3_13_named_shim_of_the_real_interpreter_makes_a_venv(tmp_path):
    # The case: no python3.11 on PATH, only a python3.13 (here this test's own Python
    # behind that name). The chosen path works as the Makefile uses it.
    fake(tmp_path, "python3.13", f'exec "{REAL}" "$@"')
    status, out, err = choose(tmp_path)
    version = "%d.%d.%d" % sys.version_info[:3]
    assert (status, out) == (0, str(tmp_path / "python3.13")), err
    assert err == f"Using python3.13 ({version}) at {tmp_path / 'python3.13'}\n"
    made = subprocess.run([out, "-m", "venv", "--without-pip", str(tmp_path / "venv")], env={"PATH": str(tmp_path)})
    assert made.returncode == 0 and (tmp_path / "venv" / "bin" / "python").exists()


def test_python3_is_the_last_resort(tmp_path):
    fake(tmp_path, "python3.12", reports("3.12.3", venv=False))   # Ubuntu without python3.12-venv
    fake(tmp_path, "python3", reports("3.11.2"))
    assert choose(tmp_path)[:2] == (0, str(tmp_path / "python3"))


def test_PYTHON_is_respected(tmp_path):
    fake(tmp_path, "python3.13", reports("3.13.1"))
    named = fake(tmp_path, "my-python", reports("3.11.4"))
    status, out, err = choose(tmp_path, python=str(named))
    assert (status, out) == (0, str(named))
    assert err == f"Using {named} (3.11.4) at {named}\n"


@pytest.mark.parametrize("version", ["3.10.13", "3.14.0"])
def test_an_unsupported_PYTHON_is_refused_by_name(tmp_path, version):
    fake(tmp_path, "python3.12", reports("3.12.4"))   # not taken instead of the one named
    named = fake(tmp_path, "old", reports(version))
    status, out, err = choose(tmp_path, python=str(named))
    assert (status, out) == (1, "")
    assert f"PYTHON={named} cannot be used: this needs Python 3.11 to 3.13" in err
    assert f"is Python {version}, not 3.11 to 3.13" in err


def test_a_PYTHON_that_does_not_run_is_refused(tmp_path):
    fake(tmp_path, "python3.12", NOT_RUNNING)
    status, _, err = choose(tmp_path, python="python3.12")
    assert status == 1
    assert "does not run: pyenv: python3.12: command not found" in err


def test_none_fits_names_the_range_and_what_to_install(tmp_path):
    fake(tmp_path, "python3.10", reports("3.10.12"))
    fake(tmp_path, "python3.12", reports("3.12.3", venv=False))
    fake(tmp_path, "python3", reports("3.10.12"))
    status, out, err = choose(tmp_path)
    assert (status, out) == (1, "")
    assert "No supported Python found: the course needs Python 3.11 to 3.13. Tried:" in err
    assert "python3.13 is not on PATH" in err
    assert "is Python 3.12.3 without its venv module (Debian/Ubuntu: sudo apt install python3.12-venv)" in err
    assert "is Python 3.10.12, not 3.11 to 3.13" in err
    for hint in ("sudo apt install python3 python3-venv", "brew install python@3.13",
                 "https://www.python.org/downloads/", "pyenv install 3.13", "make book PYTHON="):
        assert hint in err


def test_a_narrower_range_for_the_oldest_versions(tmp_path):
    fake(tmp_path, "python3.12", reports("3.12.4"))
    fake(tmp_path, "python3", reports("3.11.9"))
    assert choose(tmp_path, "3.11", "3.11")[:2] == (0, str(tmp_path / "python3"))
    (tmp_path / "python3").unlink()
    status, _, err = choose(tmp_path, "3.11", "3.11", python=str(tmp_path / "python3.12"),
                            env={"PYTHON_VAR": "OLDEST_PYTHON"})
    assert status == 1 and "OLDEST_PYTHON=" in err and "is Python 3.12.4, not 3.11\n" in err


def test_the_makefile_makes_every_venv_with_the_chooser(tmp_path):
    fake(tmp_path, "python3.13", f'exec "{REAL}" "$@"')
    make = shutil.which("make")
    result = subprocess.run([make, "-s", "--no-print-directory", "-C", str(ROOT),
                             "--eval", "chosen-python: ; @$(FIND_PYTHON)", "chosen-python"],
                            env={"PATH": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == str(tmp_path / "python3.13"), result.stderr
    venv_lines = [line for line in (ROOT / "Makefile").read_text().splitlines() if "-m venv" in line]
    assert len(venv_lines) == 3    # .venv, .venv-latest, .venv-oldest
    for line in venv_lines:
        assert '"$$py" -m venv' in line, line
    recipes = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("\t")]
    assert not [line for line in recipes if re.search(r"(^|[\s;|&(])python3", line)]   # no interpreter named


def test_the_supported_range_is_stated_alike():
    pythons = supported_pythons()                     # from requires-python in pyproject.toml
    lowest, highest = pythons[0], pythons[-1]
    stated = f"Python {lowest} to {highest}"
    chooser = CHOOSER.read_text()
    assert f"MIN=${{1:-{lowest}}}" in chooser and f"MAX=${{2:-{highest}}}" in chooser
    assert stated in (ROOT / "README.md").read_text()
    assert stated in (ROOT / "binder" / "requirements.txt").read_text()
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime) and runtime.removeprefix("python-") in pythons
    assert f"Python {runtime.removeprefix('python-')} (runtime.txt)" in (ROOT / "binder" / "requirements.txt").read_text()

