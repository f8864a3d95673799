"""The class together (issue 22): every student's shared drawings, the teacher's invitation to
follow them to a page, and which stored models are this lesson's, kept where the jobs' state is
kept (the queue's storage, aedemo.taskqueue: a SQLite file by default, Redis with several
servers), so that two servers on one Redis show one class.

What is stored, under the keys of ``ClassKey`` (they belong beside ``taskqueue.Key``):

- ``ClassKey.INDEX``: the lesson's index, one JSON object written whole under the lock
  ``ClassKey.LOCK``: each drawing's id, sharer (a student's cookie id, never shown) and time;
  when each student last shared (the rate bound); when the lesson began (its last clear).
- ``ClassKey.drawing(id)``: a drawing's pixels, the framed 28 x 28 picture the models see
  (aedemo.preprocess), never the student's upload: 784 values quantised to uint8, as base64.
- ``ClassKey.REVISION``: a fresh token with every change, so an open page polls a few bytes,
  not the index, to hear that a drawing came or went (a hidden one vanishes at the next poll,
  within seconds).
- ``ClassKey.INVITATION``: the page the teacher asks the class to open (Bring the class here).

It is bounded: PER_STUDENT drawings per student (the oldest goes), MAX_STUDENTS students per
lesson, one share per SHARE_EVERY_S seconds per student, each refused in a plain sentence
(``ShareRefused``). Nothing read back is trusted: an entry, a picture or an invitation that is
not as written here is dropped, never raised.

Students see the drawings without anyone's identity; the teacher sees "student 3", numbered by
the class's roster (aedemo.classroom.Roster) in the order the students joined.

No Streamlit here.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import numpy as np

from aedemo.classroom import Roster
from aedemo.errors import Explained
from aedemo.job import SYSTEM
from aedemo.menu import PAGES
from aedemo.preprocess import FRAME
from aedemo.taskqueue import JobBoard

PIXELS = FRAME * FRAME          # the framed picture's, as the models see it
PER_STUDENT = 3                 # drawings a student keeps on the map: their latest
MAX_STUDENTS = 500              # students who may share in one lesson
SHARE_EVERY_S = 5.0             # at most one share per student this often: a flood is refused
ID_CHARS = 64                   # the longest student id kept (classroom.Roster's bound)
# An invitation's parts, bounded: one of the app's pages (aedemo.menu), its settings as a query
# string, a label for the sidebar ("Generate (VAE, k = 16)").
QUERY_ITEMS = 20
QUERY_CHARS = 100
LABEL_CHARS = 120
INVITATION_FRESH_S = 20 * 60    # an invitation older than this is forgotten
# Streamlit reads these from any page's address itself (embed mode hides the menu and the
# sidebar): an invitation that set them would change the students' tabs, not show a page
STREAMLIT_QUERY = ("embed",)
DRAWING_ID = re.compile(r"[0-9a-f]{12}")     # uuid4's first 12 hex digits: never used twice


class ClassKey:
    """The class's keys in the queue's storage, each spelled here once. They belong in
    ``aedemo.taskqueue.Key`` beside the jobs' (that module is not this change's to edit)."""

    INDEX = "class:index"
    REVISION = "class:revision"
    INVITATION = "class:invitation"
    LOCK = "class"                  # JobBoard.lock's name: the key "lock:class"

    @staticmethod
    def drawing(drawing_id: str) -> str:
        return f"class:drawing:{drawing_id}"


class ShareRefused(Explained):
    """A share the class refuses (a flood, a full class, a picture that is not one); the
    message is a plain sentence for the student."""


# --- the records ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SharedDrawing:
    """One shared drawing as a viewer may see it. ``student`` is the sharer's number in the
    class's roster for the teacher, None for a student (and for the teacher when the roster
    could not number them); ``mine`` says whether the viewer shared it."""

    id: str                     # 12 hex digits, never used twice (DRAWING_ID)
    pixels: np.ndarray = field(compare=False, repr=False)    # (28, 28) float32 in [0, 1]
    at: float
    student: int | None = None
    mine: bool = False

    @property
    def owner_words(self) -> str:
        """Whose it is, in the teacher's words ("student 3"), or "a classmate"."""
        return f"student {self.student}" if self.student is not None else "a classmate"


@dataclass(frozen=True)
class Invitation:
    """The teacher's "Bring the class here": the page (its path in aedemo.menu.PAGES), its
    settings (``query``: what the page's own query string holds), the words the students'
    sidebar shows, and when."""

    page: str
    query: tuple[tuple[str, str], ...]
    label: str
    at: float

    @property
    def query_string(self) -> str:
        return urlencode(self.query)

    @property
    def words(self) -> str:
        return f"The teacher is on {self.label}"

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "query": [list(p) for p in self.query],
                "label": self.label, "at": self.at}

    @classmethod
    def checked(cls, page: object, query: object, label: object, at: object) -> Invitation:
        """The invitation, or ValueError when any part is not as the class keeps them."""
        if page not in {p.path for p in PAGES}:       # never a path or an address of its own
            raise ValueError(f"the page must be one of the app's pages, not {page!r:.100}")
        pairs = list(query.items()) if isinstance(query, Mapping) else query
        if not isinstance(pairs, (list, tuple)) or len(pairs) > QUERY_ITEMS:
            raise ValueError(f"the settings must be at most {QUERY_ITEMS} names and values")
        checked_pairs = []
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                    and all(isinstance(s, str) and 0 < len(s) <= QUERY_CHARS for s in pair)):
                raise ValueError(f"each setting must be a name and a value of at most "
                                 f"{QUERY_CHARS} characters")
            if pair[0].lower().startswith(STREAMLIT_QUERY):
                raise ValueError(f"{pair[0]!r:.40} is Streamlit's own setting, not a page's")
            checked_pairs.append((pair[0], pair[1]))
        if not (isinstance(label, str) and 0 < len(label.strip()) <= LABEL_CHARS
                and label.isprintable()):
            raise ValueError(f"the label must be at most {LABEL_CHARS} printable characters")
        if not (_is_number(at) and at > 0):
            raise ValueError("the time must be a number of seconds")
        return cls(page, tuple(checked_pairs), label.strip(), float(at))

    @classmethod
    def from_json(cls, value: object) -> Invitation | None:
        """The stored invitation, or None for anything that is not one as written here."""
        if not isinstance(value, dict):
            return None
        try:
            return cls.checked(value.get("page"), value.get("query"), value.get("label"),
                               value.get("at"))
        except ValueError:
            return None


@dataclass(frozen=True)
class ClassSummary:
    """The class in numbers, for the command line (``python -m aedemo class --json``)."""

    students: int               # who shared a drawing or trained a model this lesson
    drawings: int
    models: int                 # stored models that students trained this lesson
    hidden: int                 # drawings the teacher hid this lesson
    since: float | None         # when the lesson began (the last clear), None: never cleared
    invitation: Invitation | None

    def to_json(self) -> dict[str, Any]:
        return {"students": self.students, "drawings": self.drawings, "models": self.models,
                "hidden": self.hidden, "since": self.since,
                "invitation": self.invitation.to_json() if self.invitation else None,
                "per_student": PER_STUDENT, "max_students": MAX_STUDENTS}


# --- pixels, checked both ways -------------------------------------------------------------------

def quantised(pixels: object) -> bytes:
    """The framed picture as the class stores it: 784 bytes, round(255 * value). ShareRefused
    for anything but 784 finite values in [0, 1] (a (28, 28), (1, 28, 28) or (1, 1, 28, 28)
    array, a tensor included)."""
    try:
        values = np.asarray(pixels.detach().cpu() if hasattr(pixels, "detach") else pixels,
                            dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ShareRefused("The drawing could not be shared: it is not a picture.") from None
    # (1, 1, 28, 28) from a page, (28, 28), or the 784 values in a row
    if tuple(d for d in values.shape if d != 1) not in ((FRAME, FRAME), (PIXELS,)):
        raise ShareRefused(f"The drawing could not be shared: it must be the framed "
                           f"{FRAME} x {FRAME} picture.")
    if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
        raise ShareRefused("The drawing could not be shared: its values must lie between 0 "
                           "and 1.")
    return np.round(values.reshape(-1) * 255).astype(np.uint8).tobytes()


def pixels_from_stored(value: object) -> np.ndarray | None:
    """A stored picture as (28, 28) float32 in [0, 1], or None when it is not 784 bytes of
    base64 as ``ClassBoard.share`` writes them."""
    if not isinstance(value, str) or len(value) > 2 * PIXELS:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != PIXELS:
        return None
    return (np.frombuffer(raw, np.uint8).reshape(FRAME, FRAME) / np.float32(255)).astype(
        np.float32)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_student(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= ID_CHARS


# --- the lesson's index --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    id: str
    student: str
    at: float


@dataclass(frozen=True)
class _Index:
    """What ``ClassKey.INDEX`` holds, parsed: a value that is not as written here, whole or in
    part, reads as the part that is (an empty lesson at worst)."""

    entries: tuple[_Entry, ...] = ()        # oldest first
    last_share: tuple[tuple[str, float], ...] = ()    # each student's latest share
    hidden: int = 0
    since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"drawings": [[e.id, e.student, e.at] for e in self.entries],
                "last_share": dict(self.last_share), "hidden": self.hidden,
                "since": self.since}

    @classmethod
    def from_json(cls, value: object) -> _Index:
        if not isinstance(value, dict):
            return cls()
        raw_entries = value.get("drawings")
        entries, seen = [], set()
        for e in raw_entries[:PER_STUDENT * MAX_STUDENTS] if isinstance(raw_entries,
                                                                        list) else ():
            if (isinstance(e, list) and len(e) == 3 and isinstance(e[0], str)
                    and DRAWING_ID.fullmatch(e[0]) and e[0] not in seen
                    and _is_student(e[1]) and _is_number(e[2])):
                seen.add(e[0])
                entries.append(_Entry(e[0], e[1], float(e[2])))
        raw_last = value.get("last_share")
        last = [(s, float(t)) for s, t in list(raw_last.items())[:MAX_STUDENTS]
                if _is_student(s) and _is_number(t)] if isinstance(raw_last, dict) else []

        hidden, since = value.get("hidden"), value.get("since")
        return cls(tuple(entries), tuple(last),
                   hidden=hidden if isinstance(hidden, int) and not isinstance(hidden, bool)
                   and hidden > 0 else 0,
                   since=float(since) if _is_number(since) else None)


# --- the class's state ---------------------------------------------------------------------------

class ClassBoard:
    """The class's shared drawings and invitation on the queue's storage (see the module).
    One per server, shared by its sessions: reads are cached by the revision, so a page that
    polls every few seconds costs one small read while nothing changes."""

    def __init__(self, huey, roster: Roster):
        self.board = JobBoard(huey)
        self.roster = roster
        self._cache_lock = threading.Lock()
        # (revision, the index, the pictures by id) as last read: an id is never used twice,
        # so a picture read once is kept while its drawing is listed
        self._cache: tuple[Any, _Index, dict[str, np.ndarray]] | None = None

    # --- students ------------------------------------------------------------------------

    def share(self, student: str, pixels: object, *, now: float | None = None) -> str:
        """Put ``student``'s framed drawing on the class's map; their oldest goes when they
        have PER_STUDENT already. Returns the drawing's id; ShareRefused, in a sentence for the
        student, for a flood (SHARE_EVERY_S), a full class (MAX_STUDENTS) or a picture that is
        not the framed 28 x 28 one."""
        if not _is_student(student):
            raise ShareRefused("The drawing could not be shared: this browser has no student "
                               "id; reload the page.")
        stored = base64.b64encode(quantised(pixels)).decode()
        now = time.time() if now is None else now
        with self.board.lock(ClassKey.LOCK):
            index = self._read_index()
            last = dict(index.last_share)
            if student in last and now - last[student] < SHARE_EVERY_S:
                wait = math.ceil(SHARE_EVERY_S - (now - last[student]))
                raise ShareRefused(f"You can share one drawing every {SHARE_EVERY_S:.0f} "
                                   f"seconds; try again in {wait} s.")
            if student not in last and len(last) >= MAX_STUDENTS:
                raise ShareRefused(f"The class's map is full: {MAX_STUDENTS} students have "
                                   f"shared drawings this lesson.")
            drawing_id = uuid.uuid4().hex[:12]
            mine = [e for e in index.entries if e.student == student]
            dropped = mine[:max(0, len(mine) + 1 - PER_STUDENT)]
            last[student] = now
            self.board.put(ClassKey.drawing(drawing_id), stored)     # before the index names it
            self._write_index(replace(
                index, entries=(*(e for e in index.entries if e not in dropped),
                                _Entry(drawing_id, student, now)),
                last_share=tuple(last.items())))
            for e in dropped:
                self.board.delete(ClassKey.drawing(e.id))
        self.roster.number(student)      # "student 3" on the teacher's map, in joining order
        return drawing_id

    # --- everyone ------------------------------------------------------------------------

    def revision(self) -> Any:
        """What changes with every change to the drawings: a page redraws the map when it
        does. Compare it, nothing more (None before the first change)."""
        return self.board.get(ClassKey.REVISION)

    def drawings(self, viewer_is_teacher: bool, viewer: str | None = None
                 ) -> list[SharedDrawing]:
        """The shared drawings, oldest first, as ``viewer`` (a student's id) may see them:
        numbered "student N" for the teacher, nobody's for a student."""
        index, pictures = self._read()
        numbers = self.roster.numbers() if viewer_is_teacher else {}
        return [SharedDrawing(e.id, pictures[e.id], e.at,
                              student=numbers.get(e.student) if viewer_is_teacher else None,
                              mine=viewer is not None and e.student == viewer)
                for e in index.entries if e.id in pictures]

    def invitation(self, *, now: float | None = None) -> Invitation | None:
        """The teacher's invitation to a page while it stands: None once withdrawn, and None
        when older than INVITATION_FRESH_S, or as far in the future (another server's clock,
        or a value the app did not write): a lesson's "come here" should not greet tomorrow's
        class, on a page or in ``python -m aedemo class``."""
        try:
            value = self.board.get(ClassKey.INVITATION)
        except (ValueError, RecursionError):
            return None
        invitation = Invitation.from_json(value)
        now = time.time() if now is None else now
        if invitation is None or abs(now - invitation.at) > INVITATION_FRESH_S:
            return None
        return invitation

    # --- the teacher ---------------------------------------------------------------------

    def hide(self, drawing_id: str) -> bool:
        """Take a drawing off every screen (its picture is deleted, not kept): each page hears
        it at its next poll. False when there was no such drawing."""
        with self.board.lock(ClassKey.LOCK):
            index = self._read_index()
            kept = tuple(e for e in index.entries if e.id != drawing_id)
            if len(kept) == len(index.entries):
                return False
            self._write_index(replace(index, entries=kept, hidden=index.hidden + 1))
            self.board.delete(ClassKey.drawing(drawing_id))
        return True

    def clear(self, *, now: float | None = None) -> int:
        """Start the next lesson: every drawing deleted, the rate bounds and the invitation
        gone, and only models stored from now on are the class's (stored models stay).
        Returns how many drawings were removed."""
        with self.board.lock(ClassKey.LOCK):
            index = self._read_index()
            self._write_index(_Index(since=time.time() if now is None else now))
            for e in index.entries:
                self.board.delete(ClassKey.drawing(e.id))
            self.board.delete(ClassKey.INVITATION)
        return len(index.entries)

    def invite(self, page: str, query: Mapping[str, str] | Iterable[tuple[str, str]],
               label: str, *, now: float | None = None) -> Invitation:
        """Ask every student to open ``page`` with the settings ``query`` (its query string's
        names and values); ``label`` is what their sidebar says ("Generate (VAE, k = 16)").
        ValueError for parts that are not as the class keeps them."""
        query = query if isinstance(query, Mapping) else list(query)
        invitation = Invitation.checked(page, query, label, time.time() if now is None else now)
        self.board.put(ClassKey.INVITATION, invitation.to_json())
        return invitation

    def withdraw(self) -> None:
        """Take the invitation back: the students' sidebars stop showing it."""
        self.board.delete(ClassKey.INVITATION)

    # --- the lesson's models, and the whole in numbers -----------------------------------

    def since(self) -> float | None:
        """When this lesson began (the last clear), None if the class was never cleared."""
        return self._read()[0].since

    def models(self, store) -> list:
        """The stored models (aedemo.store.StoredModel) that students trained this lesson:
        usable, asked for by a student (not the zoo, not the command line), saved since the
        last clear; newest first. A model's time is kept to the millisecond, rounded down
        (to the second by models stored before): one saved just after a clear may be taken
        for the last lesson's, never the other way round."""
        since = self.since()
        return [m for m in store.list() if m.ok and m.owner not in (None, SYSTEM)
                and (since is None or _timestamp(m.created) >= since)]

    def summary(self, store, *, now: float | None = None) -> ClassSummary:
        index, pictures = self._read()
        models = self.models(store)
        students = {e.student for e in index.entries if e.id in pictures}
        students |= {s for s, _ in index.last_share} | {m.owner for m in models}
        return ClassSummary(students=len(students),
                            drawings=sum(e.id in pictures for e in index.entries),
                            models=len(models), hidden=index.hidden, since=index.since,
                            invitation=self.invitation(now=now))

    # --- the storage ---------------------------------------------------------------------

    def _read_index(self) -> _Index:
        try:
            return _Index.from_json(self.board.get(ClassKey.INDEX))
        except (ValueError, RecursionError):      # not JSON: as good as an empty lesson
            return _Index()

    def _write_index(self, index: _Index) -> None:
        """Write the index (with the lock held), then a fresh revision that tells the pages.
        A token, never a count: a count started again (a spoilt index) could repeat the one a
        server holds its cache under."""
        self.board.put(ClassKey.INDEX, index.to_json())
        self.board.put(ClassKey.REVISION, uuid.uuid4().hex)

    def _read(self) -> tuple[_Index, dict[str, np.ndarray]]:
        """The index and every picture it names, read again only when the revision changed;
        the pictures already read are kept."""
        try:
            revision = self.revision()
        except (ValueError, RecursionError):
            revision = None
        with self._cache_lock:
            cached = self._cache
        if cached is not None and revision is not None and cached[0] == revision:
            return cached[1], cached[2]
        index = self._read_index()
        known = cached[2] if cached is not None else {}
        pictures = {e.id: known[e.id] for e in index.entries if e.id in known}
        pictures.update(self._pictures([e.id for e in index.entries if e.id not in known]))
        with self._cache_lock:
            self._cache = (revision, index, pictures)
        return index, pictures

    def _pictures(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The pictures of ``ids`` that are there and hold together."""
        keys = {ClassKey.drawing(i): i for i in ids}
        try:
            found = self.board.get_many(list(keys))
        except (ValueError, RecursionError):
            # one stored value is not JSON: read them one by one, dropping what fails
            found = {}
            for key in keys:
                try:
                    found[key] = self.board.get(key)
                except (ValueError, RecursionError):
                    continue
        pictures = {}
        for key, value in found.items():
            picture = pixels_from_stored(value)
            if key in keys and picture is not None:
                pictures[keys[key]] = picture
        return pictures


def _timestamp(created: str | None) -> float:
    """A stored model's creation time (ISO, UTC) in seconds; 0 when it has none."""
    try:
        stamp = datetime.fromisoformat(created or "")
    except ValueError:
        return 0.0
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()
