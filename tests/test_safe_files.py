"""aedemo.safe_files on its own: what is not a regular file of bounded size is refused in words
before it is read (test_store_hostile has the same cases through the store), a write is whole or
absent, and a stamp changes with every write."""

from __future__ import annotations

import os
import threading

import pytest

from aedemo import safe_files
from aedemo.safe_files import read_regular_file, remove, stamp, why, write_atomically


def test_a_regular_file_within_the_limit_is_read(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b"{}")
    assert read_regular_file(path, limit=2) == b"{}"


def hostile(path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)                          # no writer: a plain open() would wait for ever
    elif kind == "device":
        path.symlink_to("/dev/zero")             # a read would never end
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"x" * 11)              # one byte more than the limit


@pytest.mark.parametrize("kind, words", [("fifo", "a pipe (FIFO)"), ("device", "a device"),
                                         ("folder", "a folder"), ("large", "11 bytes")])
def test_what_is_not_a_bounded_file_is_refused_in_words_without_blocking(tmp_path, kind, words):
    path = tmp_path / "x"
    hostile(path, kind)
    outcome = {}

    def read():
        try:
            read_regular_file(path, limit=10)
        except ValueError as err:
            outcome["error"] = str(err)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and words in outcome["error"]


def test_a_missing_file_is_the_oses_error_in_its_words(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        read_regular_file(tmp_path / "nothing", limit=10)
    assert why(raised.value) == "No such file or directory"


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_atomically(path, b"old")

    def interrupted(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safe_files.os, "replace", interrupted)
    with pytest.raises(OSError):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.json"]


def test_every_write_changes_the_stamp_even_of_the_same_bytes(tmp_path):
    """The pins are read again when the stamp changes: a rename puts a new inode in place."""
    path = tmp_path / "showcase.json"
    assert stamp(path) is None
    write_atomically(path, b"[]")
    first = stamp(path)
    write_atomically(path, b"[]")
    assert stamp(path) != first


def test_remove_takes_a_link_not_its_target_and_a_folder_with_what_it_holds(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"x")
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inside").write_bytes(b"x")
    for name in ("link", "folder", "nothing"):
        remove(tmp_path / name)
    assert os.listdir(tmp_path) == ["target"]
