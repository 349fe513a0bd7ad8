"""Atomic writes: a reader sees the old file or the new one, never half of one, and no
temporary file is left behind."""

from __future__ import annotations

import os
import stat

import pytest

from course_utils.atomic_files import atomic_path, write_atomic


def test_text_and_bytes_are_written_whole(tmp_path):
    assert write_atomic(tmp_path / "a" / "notes.txt", "caf\u00e9\n").read_text(encoding="utf-8") == "caf\u00e9\n"
    assert write_atomic(tmp_path / "weights.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "weights.bin", b"\x02")   # replaces
    assert (tmp_path / "weights.bin").read_bytes() == b"\x02"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "weights.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "run.json", "old\n")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the ne")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_the_temporary_sits_beside_the_file_and_keeps_its_name(tmp_path):
    with atomic_path(tmp_path / "model.weights.h5") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith("model.weights.h5") and not tmp.exists()
        tmp.write_bytes(b"h5")
    assert (tmp_path / "model.weights.h5").read_bytes() == b"h5"


def test_the_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE(write_atomic(tmp_path / "grades.csv", "a,b\n").stat().st_mode)
    assert mode == 0o666 & ~umask


def test_data_that_is_not_text_or_bytes_is_named(tmp_path):
    with pytest.raises(TypeError, match="data: expected str or bytes, got dict"):
        write_atomic(tmp_path / "run.json", {"epochs": 20})
