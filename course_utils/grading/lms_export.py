"""The gradebook CSV that Canvas imports (Grades > Import), beside the plain ``grades.csv``.

Canvas reads the columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID`` and
``Section``, then one column per assignment, named as in its gradebook; it matches a row
to a student by ``ID`` (Canvas's user id) or the SIS ids, and a column whose name is no
existing assignment becomes a new one. The identities come from the grader's manifest
(columns ``name``, ``id``, ``sis_user_id``, ``sis_login_id``, ``section``, keyed by the
notebook's path); a notebook without them gets its path as ``Student`` and empty ids, which
Canvas cannot match: :func:`unmatched` names them. The score is the percentage of the
exercises scored, after any late deduction, so the assignment should be worth 100 points.
"""

from __future__ import annotations

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MANIFEST_KEYS = ["name", "id", "sis_user_id", "sis_login_id", "section"]


def canvas_rows(students: list[str], scores: dict[str, float], manifest: dict[str, dict],
                assignment: str) -> tuple[list[str], list[dict]]:
    """(header, rows) of the Canvas gradebook CSV: one row per notebook graded."""
    header = CANVAS_COLUMNS + [assignment]
    rows = []
    for student in students:
        known = manifest.get(student, {})
        row = {column: known.get(key, "") for column, key in zip(CANVAS_COLUMNS, MANIFEST_KEYS)}
        row["Student"] = row["Student"] or student
        row[assignment] = f"{scores[student]:.2f}"
        rows.append(row)
    return header, rows


def unmatched(rows: list[dict]) -> list[str]:
    """The rows' ``Student`` that carry no id Canvas can match them by."""
    return [row["Student"] for row in rows if not (row["ID"] or row["SIS User ID"] or row["SIS Login ID"])]
