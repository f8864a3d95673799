"""What the whole class shares beside the models, in the store's folder so that every app server
of a class (AEDEMO_REDIS_URL) sees the same:

- ``News``: what the teacher did that open pages must say and show: a model pinned or taken
  off the showcase, a model deleted, a job cancelled. Every open tab asks for what is new every
  few seconds (``aedemo.ui``) and says it ("The teacher pinned VAE, k = 8"), so a pin reaches a
  student's page without a reload.
- ``Roster``: a number for every student who asked for a model, in the order they first did, so
  the teacher's tables say "student 3" rather than a cookie's 32 hex digits.

Both are small JSON files written whole and atomically under a lock file; neither is trusted
when read back (a hand-edited or hostile file is as good as an empty one, never a traceback).

No Streamlit here.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aedemo.job import TEACHER
from aedemo.safe_files import read_regular_file, why, write_atomically
from aedemo.store import MAX_JSON_BYTES, ModelStore, StoreError, explain_os_error

log = logging.getLogger(__name__)

NEWS_KEPT = 50            # items kept: a tab that has not asked for a minute still finds its own
ROSTER_CAP = 10_000       # students numbered; beyond this (cookies made by a script) none more

PINNED, UNPINNED, DELETED, CANCELLED = "pinned", "unpinned", "deleted", "cancelled"
KINDS = (PINNED, UNPINNED, DELETED, CANCELLED)


@dataclass(frozen=True)
class Item:
    """One thing that happened. ``subject`` is the model's id (a job's for CANCELLED);
    ``spec`` is the model's or job's spec as a dict (what it was, for its name, after it is
    gone); ``owners`` the students whose model or job it was; ``by`` who did it ("teacher" or a
    student's id)."""

    seq: int
    at: float
    kind: str
    subject: str
    spec: dict[str, Any]
    owners: tuple[str, ...]
    by: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "kind": self.kind, "subject": self.subject,
                "spec": self.spec, "owners": list(self.owners), "by": self.by}

    @classmethod
    def from_json(cls, d: object) -> Item | None:
        """The item, or None for anything that is not one as we write them."""
        if not isinstance(d, dict):
            return None
        seq, at, kind, subject = d.get("seq"), d.get("at"), d.get("kind"), d.get("subject")
        spec, owners, by = d.get("spec"), d.get("owners"), d.get("by")
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq > 0
                and isinstance(at, (int, float)) and kind in KINDS
                and isinstance(subject, str) and len(subject) <= 64
                and isinstance(spec, dict) and isinstance(by, str) and len(by) <= 64
                and isinstance(owners, list)
                and all(isinstance(o, str) and len(o) <= 64 for o in owners)):
            return None
        return cls(seq, float(at), kind, subject, spec, tuple(owners), by)


class _JsonFile:
    """A small JSON file in the store's folder, read whole (re-read only when it changed on
    disk) and rewritten whole under a lock file shared by every process of the class."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.path = root / name
        self._lock_path = root / f".{name}.lock"
        self._thread_lock = threading.Lock()
        self._cache: tuple[tuple[int, int], Any] | None = None

    def read(self) -> Any:
        """The parsed file, or None when it is missing or unreadable (logged)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("ignoring %s: %s", self.path, why(err))
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            value = json.loads(read_regular_file(self.path, MAX_JSON_BYTES))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as err:
            log.warning("ignoring %s: %s", self.path, why(err))
            value = None
        self._cache = (stamp, value)
        return value

    def listed(self, name: str) -> list:
        """The list the file holds under ``name``: empty for a file that holds anything else."""
        raw = self.read()
        value = raw.get(name) if isinstance(raw, dict) else None
        return value if isinstance(value, list) else []

    @contextmanager
    def locked(self):
        """Hold the file's lock (threads of this process, then every process) while it is
        read, changed and written back."""
        with self._thread_lock:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise explain_os_error(err, self.root) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._cache = None          # read what another process may have written
                yield
            finally:
                os.close(fd)

    def write(self, value: Any) -> None:
        try:
            write_atomically(self.path, json.dumps(value, separators=(",", ":")).encode())
        except OSError as err:
            raise explain_os_error(err, self.root) from None
        self._cache = None


class News:
    """The teacher's actions, newest last, the last NEWS_KEPT of them (see the module)."""

    def __init__(self, root: Path):
        self._file = _JsonFile(root, "news.json")

    def items(self) -> list[Item]:
        listed = self._file.listed("items")[-NEWS_KEPT:]
        found = [i for i in map(Item.from_json, listed) if i is not None]
        return sorted(found, key=lambda i: i.seq)

    def last_seq(self) -> int:
        """The newest item's number (0 for none): a page opened now says only what comes
        after it."""
        items = self.items()
        return items[-1].seq if items else 0

    def since(self, seq: int) -> list[Item]:
        """What happened after item ``seq``, oldest first."""
        return [i for i in self.items() if i.seq > seq]

    def add(self, kind: str, subject: str, spec: dict[str, Any], owners: Iterable[str | None],
            by: str) -> Item | None:
        """Record one action. Never raises: a store that cannot be written loses the news, not
        the action it reports (which has already happened)."""
        try:
            with self._file.locked():
                items = self.items()
                item = Item(seq=(items[-1].seq if items else 0) + 1, at=time.time(), kind=kind,
                            subject=subject, spec=spec, owners=tuple(o for o in owners if o),
                            by=by)
                self._file.write({"items": [i.to_json() for i in
                                            [*items, item][-NEWS_KEPT:]]})
                return item
        except StoreError as err:
            log.warning("the class's news was not written: %s", err.in_full())
            return None


class Roster:
    """A number for each student, in the order they first asked for a model (see the module)."""

    def __init__(self, root: Path):
        self._file = _JsonFile(root, "roster.json")

    def _students(self) -> list[str]:
        return [s for s in self._file.listed("students")[:ROSTER_CAP]
                if isinstance(s, str) and len(s) <= 64]

    def numbers(self) -> dict[str, int]:
        """Each numbered student's number, from 1."""
        return {s: n for n, s in enumerate(dict.fromkeys(self._students()), 1)}

    def number(self, student: str) -> int | None:
        """The student's number, given now if they had none (None when the roster cannot be
        written or is full)."""
        return self.enrol([student]).get(student)

    def enrol(self, students: Iterable[str]) -> dict[str, int]:
        """Number the students who have none yet, in the order given; every number."""
        known = self.numbers()
        new = [s for s in dict.fromkeys(students) if s not in known and isinstance(s, str)
               and 0 < len(s) <= 64]
        if not new:
            return known
        try:
            with self._file.locked():
                listed = list(dict.fromkeys(self._students()))
                listed += [s for s in new if s not in listed]
                self._file.write({"students": listed[:ROSTER_CAP]})
        except StoreError as err:
            log.warning("the roster was not written: %s", err.in_full())
        return self.numbers()



# --- the teacher's actions on models, with their news ---------------------------------------------
# The pages (through Service) and the command line (`python -m aedemo pin ID`) both come here, so a
# pin made in a terminal reaches the open pages as one made in the sidebar does.

def set_pinned(store: ModelStore, model_id: str, pinned: bool) -> None:
    """Pin a model to the showcase, or take it off (StoreError if it cannot be), and say so."""
    store.set_pinned(model_id, pinned)
    entry = store.get(model_id)
    if entry is not None and entry.ok:
        News(store.root).add(PINNED if pinned else UNPINNED, model_id, entry.spec.to_dict(),
                             [entry.owner], TEACHER)


# The showcase is the teacher's: a student who could delete their own model once it is pinned
# would change what every page shows the class by default.
PINNED_IS_THE_TEACHERS = "Pinned by the teacher: only the teacher can remove it."


def delete_model(store: ModelStore, model_id: str, by: str) -> None:
    """Delete a stored model (StoreError if it cannot be), and say so when someone other than
    its owner did, or it was on the showcase: ``by`` is TEACHER or the student who deleted it.
    A pinned model only the teacher may delete (PINNED_IS_THE_TEACHERS)."""
    entry = store.get(model_id)
    was_pinned = model_id in store.pinned()
    if was_pinned and by != TEACHER:
        raise StoreError(PINNED_IS_THE_TEACHERS)
    store.delete(model_id)
    if entry is not None and entry.ok and (by != entry.owner or was_pinned):
        News(store.root).add(DELETED, model_id, entry.spec.to_dict(), [entry.owner], by)
