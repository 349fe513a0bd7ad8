"""Deadlines: when each notebook was handed in, and what a late one loses.

The policy works as an LMS's automatic late policy does (Canvas: "deduct N percent for
each late day (or hour)", "lowest possible grade"): every interval begun after the due
time, however little of it, deducts ``per_interval`` percentage points of the score,
down to ``floor`` percent; a score already below the floor is never raised. A notebook
handed in at or before the due time loses nothing.

The time a notebook was handed in is its row in a manifest (``submitted_at``, ISO 8601),
else its modification time in the submissions folder (what an LMS's bulk download or a
copy with ``cp -p`` keeps). A time without a zone is local time on this machine.

>>> policy = LatePolicy.parse("10%/day", "50%")
>>> due = parse_time("2026-12-01T23:59:00+00:00")
>>> policy.apply(80.0, due, parse_time("2026-12-03T08:00:00+00:00"))   # 2 days begun
Lateness(late_seconds=115260.0, intervals=2, deduction=20.0, score=60.0)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
import re
from pathlib import Path

from course_utils.i18n import N_

INTERVALS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
PENALTY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*/\s*(\d+(?:\.\d+)?)?\s*(minute|hour|day|week)s?\s*$")
PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def parse_time(text: str, option: str = "--due") -> datetime.datetime:
    """An ISO 8601 time (``2026-12-01T23:59``, ``...+09:00``, ``...Z``), zone-aware; a
    time without a zone is local time here. ValueError names ``option`` and the format."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option}: expected a time such as 2026-12-01T23:59 or 2026-12-01T23:59+09:00 "
                         f"(ISO 8601), got {text!r}") from None
    return moment if moment.tzinfo else moment.astimezone()


@dataclasses.dataclass(frozen=True)
class Lateness:
    late_seconds: float     # 0 when on time
    intervals: int          # intervals begun after the due time
    deduction: float        # percentage points actually taken off
    score: float            # the score after the deduction, in percent


@dataclasses.dataclass(frozen=True)
class LatePolicy:
    per_interval: float = 0.0   # percentage points per interval begun
    interval_s: float = 86400.0
    floor: float = 0.0          # lowest score a late deduction can leave, in percent

    @classmethod
    def parse(cls, penalty: str, floor: str = "0%") -> "LatePolicy":
        """From ``--late-penalty`` (``10%/day``, ``5%/hour``, ``2%/6hours``) and ``--late-floor``
        (``50%``); ValueError with what was expected."""
        found = PENALTY.match(penalty or "")
        if not found:
            raise ValueError(f"--late-penalty: expected PERCENT%/INTERVAL such as 10%/day, 5%/hour or 2%/6hours "
                             f"(minute, hour, day, week), got {penalty!r}")
        per_interval, count, unit = float(found.group(1)), float(found.group(2) or 1), found.group(3)
        floor_found = PERCENT.match(floor or "")
        if not floor_found or not 0 <= float(floor_found.group(1)) <= 100:
            raise ValueError(f"--late-floor: expected a percentage from 0% to 100% such as 50%, got {floor!r}")
        if per_interval > 100 or count <= 0:
            raise ValueError(f"--late-penalty: the deduction must be at most 100% and the interval positive, "
                             f"got {penalty!r}")
        return cls(per_interval, count * INTERVALS[unit], float(floor_found.group(1)))

    def apply(self, score: float, due: datetime.datetime, submitted: datetime.datetime) -> Lateness:
        """``score`` (percent) of a notebook handed in at ``submitted`` for a ``due`` time."""
        late = (submitted - due).total_seconds()
        if late <= 0:
            return Lateness(0.0, 0, 0.0, score)
        intervals = math.ceil(late / self.interval_s)
        final = max(score - intervals * self.per_interval, min(score, self.floor))
        return Lateness(late, intervals, round(score - final, 6), final)


UNITS = ((86400, N_("{n} d")), (3600, N_("{n} h")), (60, N_("{n} min")), (1, N_("{n} s")))


def describe_delay(seconds: float, translate=lambda text: text) -> str:
    """A delay in its two largest non-zero units: ``2 d 3 h``, ``1 d 5 s``, ``40 s``
    (``translate``: the unit words in another language, such as :func:`course_utils.i18n._`)."""
    rest, shown = int(math.ceil(seconds)), []
    for size, unit in UNITS:
        count, rest = divmod(rest, size)
        if count:
            shown.append(translate(unit).format(n=count))
    return " ".join(shown[:2]) or translate(N_("{n} s")).format(n=0)


MANIFEST_COLUMNS = ("file", "submitted_at", "name", "id", "sis_user_id", "sis_login_id", "section")


def read_manifest(path: Path) -> dict[str, dict]:
    """The manifest: notebook path (relative to the submissions folder) -> its row.

    Columns: ``file`` (required), ``submitted_at`` (ISO 8601; blank: the file's time) and
    what the LMS export needs (``name``, ``id``, ``sis_user_id``, ``sis_login_id``,
    ``section``). ValueError names the row and the column at fault."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            header = [name.strip() for name in reader.fieldnames or []]
            if "file" not in header:
                raise ValueError(f"--manifest {path}: the first row must name the columns, one of them 'file' "
                                 f"(also allowed: {', '.join(MANIFEST_COLUMNS[1:])}); got {header}")
            rows = {}
            for number, row in enumerate(reader, start=2):
                row = {(key or "").strip(): (value or "").strip() for key, value in row.items()
                       if isinstance(value, str)}
                name = Path(row["file"]).as_posix()
                if not name:
                    raise ValueError(f"--manifest {path}, row {number}: the column 'file' is empty")
                if row.get("submitted_at"):
                    row["submitted_at"] = parse_time(row["submitted_at"], f"--manifest {path}, row {number}")
                rows[name] = row
            return rows
    except OSError as error:
        raise ValueError(f"--manifest: cannot read {path} ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"--manifest {path}: not UTF-8 text (save it as CSV UTF-8)") from None


def submission_time(path: Path, student: str, manifest: dict[str, dict]) -> datetime.datetime | None:
    """When ``student`` handed in: the manifest's time, else the file's modification time
    (without following a link), else None."""
    given = manifest.get(student, {}).get("submitted_at")
    if isinstance(given, datetime.datetime):
        return given
    try:
        stamp = path.lstat().st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc)
