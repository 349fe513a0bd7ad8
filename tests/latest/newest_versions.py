"""Are the newest releases already what the book's environment runs? (`make test-latest`)

Usage: python tests/latest/newest_versions.py   (run with the book's environment, .venv)

For every package of tests/latest/requirements.txt (its markers and version limits
applied), the newest release on the package index (`pip index versions`) is compared with
the version installed in this environment, where nbval has just run every chapter. Exit
status 0 and a line per package that differs when any does (test-latest must run the
chapters on the newest releases); 3 when all are the same, so the run would repeat nbval's
exactly; 2 when the index cannot be read (test-latest runs, to be safe).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

LATEST = Path(__file__).resolve().parent / "requirements.txt"


def requirements(path: Path = LATEST) -> list[Requirement]:
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                found.append(requirement)
    return found


def newest(requirement: Requirement) -> Version | None:
    """The newest release allowed by the requirement's limits, for this Python."""
    result = subprocess.run([sys.executable, "-m", "pip", "index", "versions", requirement.name],
                            capture_output=True, text=True)
    listed = re.search(r"Available versions:\s*(.+)", result.stdout)
    if result.returncode != 0 or not listed:
        return None
    versions = [Version(v.strip()) for v in listed.group(1).split(",")]
    allowed = [v for v in versions if not v.is_prerelease and requirement.specifier.contains(v)]
    return max(allowed, default=None)


def main() -> int:
    differ = []
    for requirement in requirements():
        latest = newest(requirement)
        if latest is None:
            print(f"{requirement.name}: the package index did not answer; running the chapters to be safe")
            return 2
        try:
            installed = Version(version(requirement.name))
        except PackageNotFoundError:
            installed = None
        if installed != latest:
            differ.append(f"{requirement.name}: newest {latest}, the book's environment has {installed}")
        else:
            print(f"{requirement.name} {latest}: newest release, installed")
    print("\n".join(differ))
    return 0 if differ else 3


if __name__ == "__main__":
    sys.exit(main())
