"""Finished grades kept on disk as they arrive, so that an interrupted grading resumes.

``make grade`` stores each submission's grade in a folder beside its CSV (one JSON file
per submission, written atomically) the moment it is known. A re-run reuses a stored
grade only when everything that decides it is unchanged: the student's name and notebook
bytes, the grading options, the exercises asked for, the chapters' exercise lists and the
grading code itself (every module of this package). Anything else is graded again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

from course_utils.atomic_files import write_atomic

FORMAT_VERSION = 2
# The fields of a grade as plain data (dataclasses.asdict of grading.SubmissionGrade).
GRADE_FIELDS = {"student", "status", "verdicts", "log", "seconds", "sliced"}


def code_digest(package: Path) -> bytes:
    """Every module of ``package``, its subpackages included (for course_utils: the checkers,
    the reference code they compare with, the sandbox, the grader), and its compiled messages,
    as one digest."""
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.mo")]):
        name = path.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


@functools.lru_cache(maxsize=1)
def _code_digest() -> bytes:
    return code_digest(Path(__file__).resolve().parents[1])


def grade_key(student: str, notebook: bytes, chapters: dict, options, requested=None) -> str:
    """A digest of everything that decides ``student``'s grade (see the module's docstring)."""
    settings = json.dumps([chapters, dataclasses.asdict(options), sorted(requested or [])],
                          sort_keys=True, default=str)
    digest = hashlib.sha256(_code_digest())
    for part in (student.encode(), notebook, settings.encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


class GradeStore:
    """A folder of finished grades, one file per student (named by a digest of the name, so a
    student's file name cannot reach outside the folder)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, student: str) -> Path:
        return self.folder / f"{hashlib.sha256(student.encode()).hexdigest()[:32]}.json"

    def get(self, student: str, key: str) -> dict | None:
        """The stored grade (plain data) of ``student`` under ``key``, or None if there is none,
        it was made under another key, or the file is unreadable."""
        try:
            stored = json.loads(self._path(student).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("format_version") != FORMAT_VERSION:
            return None
        grade = stored.get("grade")
        if stored.get("key") != key or stored.get("student") != student or not isinstance(grade, dict):
            return None
        if set(grade) != GRADE_FIELDS or grade["student"] != student or not isinstance(grade["verdicts"], dict):
            return None   # not a grade this code wrote: graded again rather than trusted
        return grade

    def put(self, student: str, key: str, grade: dict) -> Path:
        """Store ``grade`` (plain data) of ``student`` under ``key``, atomically."""
        record = {"format_version": FORMAT_VERSION, "student": student, "key": key, "grade": grade}
        return write_atomic(self._path(student), json.dumps(record, sort_keys=True) + "\n")
