"""Writing files atomically: a reader sees the old file or the new one, never half of one.

Every file the course writes (run manifests and weights, sweep results, executed
notebooks, grades) goes through :func:`atomic_path` or :func:`write_atomic`: the data go
to a temporary name in the same folder, are flushed to the disk (``fsync``), and the file
is renamed over the old one (``os.replace``, atomic within one file system).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` (not yet created) for the caller to write; on
    leaving without an error it is synced to the disk and renamed to ``path``, on an error
    it is removed. For writers that need a file name (``model.save_weights``); the
    temporary name ends with ``path``'s name, suffix included.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "notes.txt") as tmp:
    ...     _ = tmp.write_text("written whole")
    >>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('written whole', ['notes.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name, not a file (mkstemp would create it readable by its owner alone):
    # the writer creates it with the usual permissions.
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (not possible on every platform: then skipped)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_atomic(path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically; returns ``path``.

    Examples
    --------
    >>> import tempfile
    >>> path = write_atomic(Path(tempfile.mkdtemp()) / "run.json", '{"epochs": 20}\\n')
    >>> path.read_text()
    '{"epochs": 20}\\n'
    """
    if not isinstance(data, (str, bytes, bytearray)):
        raise TypeError(f"data: expected str or bytes, got {type(data).__name__}")
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding=encoding)
        else:
            tmp.write_bytes(data)
    return path


def read_record(path, format_version: int) -> dict | None:
    """A JSON record written by the course (a sweep or selection run), or None when the file
    is missing, unreadable, not a JSON object or of another ``format_version``: a caller
    then trains it again rather than trusting a half-written or foreign file."""
    import json

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format_version") == format_version else None
