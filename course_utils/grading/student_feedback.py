"""One feedback file per student: a self-contained HTML page to hand back after grading.

It shows each scored exercise's verdict, the first failing case, what went wrong and the
hint, then the cells of the notebook that raised, hung or were skipped, in the language of
the notebook graded. It opens offline (no script, no link, no font or style from
elsewhere) and quotes nothing the reference computed: the verdicts are read back by
:mod:`course_utils.grading.verdict_text`, which blanks the hidden cases' expected values,
and the student's code is not shown at all. Everything else a student could have written
(a file name, an exception's text) is escaped.
"""

from __future__ import annotations

import html

from course_utils.checks import EXERCISES
from course_utils.grading.late_policy import Lateness, describe_delay
from course_utils.grading.verdict_text import VerdictParts, parse_verdict
from course_utils.i18n import N_, _, using_language

KIND_WORDS = {"passed": N_("Passed"), "not yet": N_("Not yet"), "no credit": N_("No credit"),
              "not graded": N_("Not graded")}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1a1a1a; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: .5rem; text-align: left; vertical-align: top; }
.passed { color: #0a6b2d; font-weight: bold; } .not-yet, .no-credit, .not-graded { color: #a4262c; font-weight: bold; }
.note { color: #555; font-size: .9rem; } code { background: #f3f3f3; padding: 0 .2rem; }
ul.log li { font-family: ui-monospace, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _details(parts: VerdictParts) -> str:
    """The explanation of one verdict, as HTML (every piece escaped)."""
    lines = []
    if parts.why:
        lines.append(_("Why: {why}").format(why=_e(parts.why)))
    if parts.case_number is not None:
        lines.append(_("Case {number} of {total} ({description})").format(
            number=parts.case_number, total=parts.case_total, description=_e(parts.case_description)))
        lines.append(_("What went wrong: {problem}").format(problem=_e(parts.problem)))
    if parts.hint:
        lines.append(_("Hint: {hint}").format(hint=_e(parts.hint)))
    if parts.summary and parts.kind != "passed":
        lines.append(_e(parts.summary))
    return "<br>".join(lines)


def _exercise_row(label: str, verdict, lang: str) -> str:
    parts = parse_verdict(verdict.message, lang)
    if verdict.passed != (parts.kind == "passed"):   # the message and the score disagree: trust the score
        parts = VerdictParts("passed" if verdict.passed else "not yet")
    function = EXERCISES.get(label, ("",))[0]
    css = parts.kind.replace(" ", "-")
    return (f"<tr><td>{_e(label)}<br><code>{_e(function)}</code></td>"
            f"<td class=\"{css}\">{_e(_(KIND_WORDS[parts.kind]))}</td><td>{_details(parts)}</td></tr>")


def _late_line(lateness: Lateness | None) -> str:
    if lateness is None or lateness.late_seconds <= 0:
        return ""
    text = _("Handed in {delay} after the deadline: {deduction:g} percentage points deducted; "
             "score {score:g}%.").format(delay=describe_delay(lateness.late_seconds, _),
                                         deduction=lateness.deduction, score=round(lateness.score, 2))
    return f"<p class=\"late\">{_e(text)}</p>"


def feedback_html(grade, lang: str, lateness: Lateness | None = None) -> str:
    """The feedback page of one ``grade`` (a :class:`course_utils.grading.SubmissionGrade`),
    in ``lang`` ("en" or "ja"): the language its messages were written in."""
    with using_language(lang):
        rows = "\n".join(_exercise_row(label, verdict, lang) for label, verdict in grade.verdicts.items())
        log = "\n".join(f"<li>{_e(line)}</li>" for line in grade.log)
        ran = _("The code your exercises need ran without an error.") if grade.sliced else \
            _("Every code cell ran without an error.")
        late = _late_line(lateness)
        words = {key: _e(text) for key, text in {
            "title": _("Feedback on your notebook"), "exercise": _("Exercise"), "verdict": _("Verdict"),
            "details": _("Details"), "notebook": _("Your notebook"),
            "total": _("You passed {total} of {out_of} exercises.").format(total=grade.total,
                                                                           out_of=len(grade.verdicts)),
            "note": _("The grader checked your functions on cases drawn afresh for this grading, so their "
                      "expected values are not shown (…). Run the checker cell under each exercise in your "
                      "notebook to see a case in full.")}.items()}
    notebook = f"<ul class=\"log\">{log}</ul>" if log else f"<p>{_e(ran)}</p>"
    return f"""<!DOCTYPE html>
<html lang="{_e(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{words["title"]}: {_e(grade.student)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{words["title"]}</h1>
<p><code>{_e(grade.student)}</code></p>
<p class="total">{words["total"]}</p>
{late}
<table>
<thead><tr><th>{words["exercise"]}</th><th>{words["verdict"]}</th><th>{words["details"]}</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<h2>{words["notebook"]}</h2>
{notebook}
<p class="note">{words["note"]}</p>
</main>
</body>
</html>
"""
