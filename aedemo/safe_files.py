"""Reading and writing files that anyone with access to the server's folder may have replaced.

The store's models, the showcase and the classroom's shared files live in a folder that a
careless admin or an unkind student may have reached: a file is read only when it is a regular
file of bounded size (a FIFO would block the reader, a link to /dev/zero would fill the memory),
and written to a temporary name and renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket or other special file"


def require_regular(st: os.stat_result, limit: int) -> None:
    """A ValueError in words unless ``st`` is a regular file of at most ``limit`` bytes."""
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"it is {file_kind(st.st_mode)}, not a file")
    if st.st_size > limit:
        raise ValueError(f"it holds {st.st_size:,} bytes, more than the {limit:,} a model's "
                         f"file may")


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else a
    ValueError that says what it is (OSError as usual for a missing or forbidden file).
    Never blocks: a FIFO or a device is refused from its stat before it is opened, and the
    open does not wait (O_NONBLOCK) in case one was swapped in between, which fstat then sees."""
    require_regular(path.stat(), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        require_regular(os.fstat(fd), limit)
        with os.fdopen(fd, "rb") as f:
            fd = -1                                  # the file object closes it now
            payload = f.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(payload) > limit:                         # it grew after the fstat
        raise ValueError(f"it holds more than the {limit:,} bytes a model's file may")
    return payload


def stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of ``path``, or None when it cannot be seen: a file
    with the same stamp has not changed since (``write_atomically`` renames a new file, so a
    new inode, into place)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def why(err: Exception) -> str:
    """An error in a few plain words: the OS's own for an OSError, else its message."""
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def remove(path: Path) -> None:
    """Remove a file or a link (never what a link points to); a folder put in a file's place
    goes with what it holds. Nothing there is no error."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_atomically(path: Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename it over
    ``path``: readers see the old file or the whole new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
