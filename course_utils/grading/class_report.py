"""The class report: one HTML file, figures inline, for the instructor after a grading.

It shows the distribution of the scores, the pass rate of each exercise with its most
common failing case and hint (read back from the verdicts by
:mod:`course_utils.grading.verdict_text`, so a class that mixes English and Japanese
notebooks is counted together, by case number and by the hint's English text), the late
notebooks, the notebooks that did not run in full, and the functions that several
students share (:mod:`course_utils.grading.similarity`). It is written in English, for the
instructor; the figures are PNG images inside the file, each with its numbers in a table
beside it, so the page opens offline and reads without the pictures.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import html
import io
import urllib.parse

from matplotlib.figure import Figure

from course_utils.grading.late_policy import Lateness, describe_delay
from course_utils.grading.similarity import MIN_NODES, SameFunction
from course_utils.grading.verdict_text import parse_verdict

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; } th, td { border: 1px solid #ccc; padding: .3rem .5rem;
text-align: left; vertical-align: top; } td.n { text-align: right; } img { max-width: 100%; height: auto; }
code { overflow-wrap: anywhere; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


@dataclasses.dataclass
class ExerciseSummary:
    label: str
    scored: int = 0
    passed: int = 0
    no_credit: int = 0
    not_graded: int = 0
    cases: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    hints: collections.Counter = dataclasses.field(default_factory=collections.Counter)


def summarise_exercises(grades, languages: dict[str, str]) -> dict[str, ExerciseSummary]:
    """Exercise label -> who was scored, who passed, the failing cases and hints counted."""
    summaries, descriptions = {}, {}
    for grade in grades:
        lang = languages.get(grade.student, "en")
        for label, verdict in grade.verdicts.items():
            summary = summaries.setdefault(label, ExerciseSummary(label))
            summary.scored += 1
            summary.passed += bool(verdict.passed)
            if verdict.passed:
                continue
            parts = parse_verdict(verdict.message, lang)
            summary.no_credit += parts.kind == "no credit"
            summary.not_graded += parts.kind == "not graded"
            if parts.case_number is not None and parts.kind == "not yet":
                key = (label, parts.case_number, parts.case_total)
                if lang == "en" or key not in descriptions:     # an English description when there is one
                    descriptions[key] = parts.case_description
                summary.cases[key] += 1
            if parts.hint_id:
                summary.hints[parts.hint_id] += 1
    for summary in summaries.values():   # the counter's keys become readable
        summary.cases = collections.Counter({
            f"case {number} of {total} ({descriptions[(label, number, total)]})": count
            for (label, number, total), count in summary.cases.items()})
    return summaries


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def score_figure(scores: list[float]) -> Figure:
    """Histogram of the scores (percent), bins of 10 points (100 in the last one)."""
    figure = Figure(figsize=(6, 2.8))
    axes = figure.add_subplot()
    axes.hist(scores, bins=range(0, 101, 10), color="#3b6ea8", edgecolor="white")
    axes.set_xlabel("score (%)")
    axes.set_ylabel("notebooks")
    axes.set_xlim(0, 100)
    axes.yaxis.get_major_locator().set_params(integer=True)
    return figure


def pass_rate_figure(summaries: dict[str, ExerciseSummary]) -> Figure:
    """One bar per exercise scored: the share of its notebooks that passed."""
    labels = list(summaries)
    figure = Figure(figsize=(6, 0.35 * len(labels) + 1))
    axes = figure.add_subplot()
    rates = [100 * summaries[label].passed / summaries[label].scored for label in labels]
    axes.barh(range(len(labels)), rates, color="#3b6ea8")
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("passed (% of the notebooks scored on it)")
    return figure


def _table(header: list[str], rows: list[list], numeric=()) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "\n".join("<tr>" + "".join(f"<td class=\"n\">{_e(cell)}</td>" if i in numeric else f"<td>{_e(cell)}</td>"
                                      for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _most_common(counter: collections.Counter) -> str:
    if not counter:
        return ""
    text, count = counter.most_common(1)[0]
    return f"{text} ({count})"


def _exercise_section(summaries: dict[str, ExerciseSummary]) -> str:
    if not summaries:
        return "<p>No exercise was scored.</p>"
    rows = [[label, s.scored, s.passed, f"{100 * s.passed / s.scored:.0f}%", _most_common(s.cases),
             _most_common(s.hints), s.no_credit, s.not_graded] for label, s in summaries.items()]
    image = _png(pass_rate_figure(summaries))
    return (f'<img alt="Bar chart: the share of notebooks that passed each exercise (numbers in the table below)" '
            f'src="data:image/png;base64,{image}">\n' +
            _table(["exercise", "scored", "passed", "pass rate", "most common failing case (notebooks)",
                    "most common hint (notebooks)", "no credit", "not graded"], rows, numeric={1, 2, 3, 6, 7}))


def _link(path: str | None) -> str:
    return f'<a href="{_e(urllib.parse.quote(path))}">feedback</a>' if path else ""


def _students_section(grades, scores: dict[str, float], lateness: dict[str, Lateness | None],
                      feedback_files: dict[str, str]) -> str:
    rows = []
    for grade in grades:
        late = lateness.get(grade.student)
        late_text = (f"{describe_delay(late.late_seconds)} late, -{late.deduction:g}"
                     if late and late.late_seconds > 0 else "")
        link = feedback_files.get(grade.student)
        rows.append((grade.student, grade.total, len(grade.verdicts), f"{scores[grade.student]:.4g}", late_text,
                     grade.status, link))
    lines = "\n".join(
        f"<tr><td><code>{_e(student)}</code></td><td class=\"n\">{total}</td><td class=\"n\">{out_of}</td>"
        f"<td class=\"n\">{_e(score)}</td><td>{_e(late)}</td><td>{_e(status)}</td><td>{_link(link)}</td></tr>"
        for student, total, out_of, score, late, status, link in rows)
    return ("<table><thead><tr><th>notebook</th><th>passed</th><th>scored</th><th>score (%)</th><th>late</th>"
            f"<th>status</th><th>file to hand back</th></tr></thead><tbody>\n{lines}\n</tbody></table>")


def _similarity_section(groups: list[SameFunction], short: int) -> str:
    intro = (f"<p>Functions that are the same once comments, layout, docstrings and the names of arguments and "
             f"local variables are set aside. A reason to look, not a verdict: {short} function(s) under "
             f"{MIN_NODES} syntax-tree nodes (one-line formulas, which coincide honestly) were not compared.</p>")
    if not groups:
        return intro + "<p>No two students handed in the same function.</p>"
    rows = [[group.exercise, group.function, ", ".join(group.students), len(group.students), group.nodes,
             "yes" if group.matches_reference else ""] for group in groups]
    return intro + _table(["exercise", "function", "notebooks", "how many", "nodes",
                           "same as the instructor's solution"], rows, numeric={3, 4})


def class_report_html(grades, languages: dict[str, str], scores: dict[str, float],
                      lateness: dict[str, Lateness | None], groups: list[SameFunction], short: int,
                      feedback_files: dict[str, str], heading: str = "") -> str:
    """The whole report. ``scores``: student -> percent after any late deduction;
    ``feedback_files``: student -> the feedback file's path relative to the report."""
    summaries = summarise_exercises(grades, languages)
    values = [scores[grade.student] for grade in grades]
    did_not_run = [[grade.student, grade.status] for grade in grades if grade.status != "ok"]
    late = [[student, describe_delay(item.late_seconds), f"{item.deduction:g}", f"{item.score:.4g}"]
            for student, item in lateness.items() if item and item.late_seconds > 0]
    distribution = collections.Counter(f"{grade.total} of {len(grade.verdicts)}" for grade in grades)
    figure = (f'<img alt="Histogram of the scores in percent (numbers in the table below)" '
              f'src="data:image/png;base64,{_png(score_figure(values))}">' if values else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Class report</h1>
<p>{len(grades)} notebook(s). {_e(heading)}</p>
<h2>Scores</h2>
{figure}
{_table(["exercises passed", "notebooks"], sorted(distribution.items()), numeric={1})}
<h2>Exercises</h2>
{_exercise_section(summaries)}
<h2>Late notebooks</h2>
{_table(["notebook", "late by", "points deducted", "score (%)"], late, numeric={2, 3}) if late else "<p>None.</p>"}
<h2>Notebooks that did not run in full</h2>
{_table(["notebook", "status"], did_not_run) if did_not_run else "<p>No notebook raised an error in what ran.</p>"}
<h2>Same functions</h2>
{_similarity_section(groups, short)}
<h2>Every notebook</h2>
{_students_section(grades, scores, lateness, feedback_files)}
</main>
</body>
</html>
"""
