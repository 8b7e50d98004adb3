"""Atomic writes: complete file or nothing, no temp files left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from triergon_studio.core.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_text_and_bytes(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.txt", "hello\n")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "a.txt").read_text() == "hello\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_replaces_existing_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_failure_keeps_old_file_and_cleans_temp(tmp_path: Path) -> None:
    target = tmp_path / "d.txt"
    target.write_text("keep me")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half writ")
        raise RuntimeError("disk full")
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["d.txt"]


def test_temp_lives_in_destination_folder_and_permissions_follow_umask(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "e.txt"
    target.parent.mkdir()
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        tmp.write_text("x")
    mode = os.stat(target).st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask
