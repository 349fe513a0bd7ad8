"""Grading returned notebooks: the student's code runs in a sandbox, every verdict here.

- ``submission``: grade one submitted notebook (sessions with the worker, verdicts, rows).
- ``sandbox``: start the worker in bubblewrap, with limits on memory, processes and time.
- ``cgroups``: a control group per sandbox: memory, process and CPU limits on the sandbox as a whole.
- ``worker``: runs inside the sandbox: the student's notebook, then calls of its functions.
- ``wire``: the plain-data messages (JSON and ``.npy``) between the grader and its worker.
- ``borrowed_work``: whether a student's function does the work itself, read from the source.
- ``policy``: what is not credited (the course's reference, Keras, ...) and what an
  exercise builds on; standard library only, as the worker imports it before student code.
- ``store``: finished grades kept on disk as they arrive, so an interrupted grading resumes.
- ``cluster_tasks``: a class's grading as Dask tasks (course_utils.cluster runs them).

What is handed back after a grading (``handback`` writes it all beside ``grades.csv``):

- ``verdict_text``: a verdict's message read back into its parts, hidden expected values blanked.
- ``student_feedback``: one self-contained HTML page per student, in the notebook's language.
- ``class_report``: the class report (scores, pass rates, common failing cases, late notebooks).
- ``late_policy``: submission times and the late deduction (per interval begun, with a floor).
- ``lms_export``: the gradebook CSV that Canvas imports.
- ``similarity``: students whose exercise functions are the same up to names and layout.

The names a grading script needs are importable from here.
"""

from course_utils.grading.policy import BUILDS_ON, NOT_CREDITED
from course_utils.grading.submission import (Options, SubmissionGrade, Verdict, chapter_exercises,
                                             exercises_for, grade_submission, read_submission_bytes,
                                             warm_up)

__all__ = ["BUILDS_ON", "NOT_CREDITED", "Options", "SubmissionGrade", "Verdict", "chapter_exercises",
           "exercises_for", "grade_submission", "read_submission_bytes", "warm_up"]
