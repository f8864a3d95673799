"""Trained models on disk: ``<id>.safetensors`` (the weights, never a pickle) beside ``<id>.json``
(spec, metrics, loss history, creation time, library versions).

Every file is written to a temporary name and renamed into place, the JSON last: a model exists
only once its JSON does, so a process killed mid-save leaves nothing half-listed; what such a
process leaves behind (temporary files, weights without their JSON) ``clean_up`` removes.

Nothing on disk is trusted: a JSON is parsed and checked once into a ``ModelRecord``
(aedemo.model_record), and a file is read only when it is a regular file of bounded size
(aedemo.safe_files). A model that fails any check is listed with the problem in plain words,
never raised, and can still be deleted. Ids are checked before they become paths, so no call
reaches outside the store's folder.

Listing checks each model's files once per version of them (the verdicts are kept by the files'
stamps); ``load`` reads and checks them once more, as they are now, and keeps the network.

Beside the models, ``showcase.json`` lists the models the teacher has pinned: the ones the pages
show by default, before the first-start zoo's.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as save_safetensors

from aedemo.errors import Explained
from aedemo.latent_frames import MAX_FRAMES_BYTES, FramesUnusable, LatentFrames
from aedemo.model_record import (
    NOT_FINITE_SAVE,
    ModelRecord,
    Unusable,
    all_finite,
    layout,
    library_versions,
    with_weights,
)
from aedemo.safe_files import read_regular_file, remove, stamp, why, write_atomically
from aedemo.spec import ModelSpec, Trained

log = logging.getLogger(__name__)

FREE_SPACE_NEEDED = 50_000_000     # bytes: the largest model's weights, several times over
# The largest model's weights are about 3 MB (a VAE at k = 128): a weights file over this bound
# is not one the store wrote, and reading it could exhaust the memory a class's server shares.
MAX_WEIGHTS_BYTES = 64_000_000
# A model's JSON is under 2 kB, about 30 kB with a history of 100 epochs: the same reasoning.
MAX_JSON_BYTES = 5_000_000
# A save writes its two files and renames them into place within seconds; a temporary file or a
# lone weights file this old belongs to a process that died, where a younger one may be a save
# still under way in another process (a training worker).
STALE_AFTER = 600                  # seconds

# ModelSpec.key is 12 hex digits; any lower-case letter is allowed so that hand-made entries
# (the tests' "badjson00000") can be listed and deleted. No dot, no slash: never a path.
MODEL_ID = re.compile(r"[0-9a-z]{12}")


class StoreError(Explained):
    """The store could not do what was asked; the message is meant for the user, the folder and
    the OS's words are its ``detail`` (aedemo.errors)."""


def is_model_id(value: object) -> bool:
    """Whether ``value`` has the form of a stored model's id (see MODEL_ID)."""
    return isinstance(value, str) and MODEL_ID.fullmatch(value) is not None


def _require_id(model_id: str) -> None:
    if not is_model_id(model_id):
        raise StoreError(f"{model_id!r} is not a model id (12 lower-case letters and digits, "
                         f"as 'python -m aedemo list' shows them).")


def default_home() -> Path:
    """$AEDEMO_HOME, else ~/.cache/aedemo."""
    env = os.environ.get("AEDEMO_HOME")
    return Path(env) if env else Path.home() / ".cache" / "aedemo"


@dataclass(frozen=True)
class StoredModel:
    """A model as the store lists it: its record, or None when its JSON cannot be read, and
    why it cannot be used (None when it can). What the pages read of it never raises."""

    id: str
    record: ModelRecord | None
    problem: str | None = None        # why this model cannot be used, for the user

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def spec(self) -> ModelSpec | None:
        """The spec, or None when the JSON cannot be read."""
        return self.record.spec if self.record else None

    @property
    def metrics(self) -> dict[str, float]:
        """The test metrics under today's names; none when the JSON cannot be read."""
        return self.record.metrics if self.record else {}

    @property
    def owner(self) -> str | None:
        """Who asked for it: a browser session's id, the zoo's owner, or None (the CLI)."""
        return self.record.owner if self.record else None

    @property
    def created(self) -> str | None:
        """When it was saved (ISO, UTC); with the id, the version of a model that a cache keys
        on, since a model retrained under the same id (the same settings) is a new one."""
        return self.record.created if self.record else None

    @property
    def history(self) -> tuple[dict[str, Any], ...]:
        """Its training, one entry per epoch as ``train.fit`` wrote it; empty if unusable."""
        return self.record.history if self.record else ()

    @cached_property
    def meta(self) -> dict[str, Any] | None:
        """The record as its JSON holds it (what the CLI prints), or None."""
        return self.record.to_json() if self.record else None


def explain_os_error(err: OSError, root: Path,
                     outcome: str = "the model was not saved") -> StoreError:
    """The OS's refusal as a plain sentence; where the store is and the OS's words are the
    detail, for the teacher and the log only (aedemo.errors)."""
    detail = f"{root}: {why(err)}"
    if err.errno == errno.ENOSPC:
        return StoreError(f"The model store is full (no space left on the disk), so {outcome}. "
                          f"The teacher can free some space or delete old models.", detail)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"The model store is read-only, so {outcome}.",
                          f"{detail}; set AEDEMO_HOME to a folder the server can write to")
    return StoreError(f"The model store could not be written to, so {outcome}.", detail)


class ModelStore:
    def __init__(self, home: Path | str | None = None):
        self.root = Path(home) if home is not None else default_home()
        self.dir = self.root / "models"
        self._lock = threading.Lock()
        # listing checks every weights file: the verdicts, by the stamps of the model's files
        self._checked: dict[str, tuple[tuple, StoredModel]] = {}
        # the pages ask for the pins many times a run: the file is read again only once it
        # has changed (its stamp), so the teacher's pin from another process is seen at once
        self._pins: tuple[tuple | None, frozenset[str]] = (None, frozenset())

    def _frames_path(self, model_id: str) -> Path:
        """The frames of the model's latent map while it trained (aedemo.latent_frames)."""
        _require_id(model_id)
        return self.dir / f"{model_id}.frames.safetensors"

    def _paths(self, model_id: str) -> tuple[Path, Path]:
        """(weights, JSON) of a model; StoreError for a string that is not a model id, so no
        caller can name a file outside the store ("../../x")."""
        _require_id(model_id)
        return self.dir / f"{model_id}.safetensors", self.dir / f"{model_id}.json"

    # --- writing ---------------------------------------------------------------------------

    def save(self, spec: ModelSpec, trained: Trained, owner: str | None = None, *,
             frames: LatentFrames | None = None) -> StoredModel:
        """Store a trained model, and the frames of its latent map while it trained if given
        (written before the JSON, so they are there whole by the time the model is listed)."""
        model_id = spec.key
        weights, meta_path = self._paths(model_id)
        # to the millisecond: "newest first" is the pages' order among equals, and two models
        # stored within one second once swapped places from run to run (a page's default
        # with them)
        record = ModelRecord(id=model_id, spec=spec, metrics=dict(trained.metrics),
                             history=tuple(trained.history), seconds=round(trained.seconds, 2),
                             created=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                             owner=owner, versions=library_versions())
        state = {k: v.detach().cpu().contiguous() for k, v in trained.model.state_dict().items()}
        if not all_finite(state):
            raise StoreError(NOT_FINITE_SAVE)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_atomically(weights, save_safetensors(state))
            if frames is not None:
                write_atomically(self._frames_path(model_id), frames.to_bytes())
            else:
                remove(self._frames_path(model_id))     # an earlier training's, under this id
            write_atomically(meta_path,                                     # commit point
                             json.dumps(record.to_json(), indent=1).encode())
        except OSError as err:
            raise explain_os_error(err, self.root) from None
        return StoredModel(model_id, record)

    def unwritable(self, room: int = FREE_SPACE_NEEDED) -> StoreError | None:
        """Why a model could not be saved here now (a read-only folder, a full disk), as an
        error to raise or show, or None. Asked before a job is queued, so a student hears it at
        once, not after training."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.dir)
            os.close(fd)
            os.unlink(probe)
            if shutil.disk_usage(self.dir).free < room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            return explain_os_error(err, self.root, "nothing can be trained now")
        return None

    def delete(self, model_id: str) -> None:
        """Remove a model, usable or not, whatever its files have become."""
        weights, meta_path = self._paths(model_id)
        try:
            remove(meta_path)      # the JSON first: the model is gone at once
            remove(weights)
            remove(self._frames_path(model_id))
        except OSError as err:
            raise explain_os_error(err, self.root, "the model was not deleted") from None
        self._checked.pop(model_id, None)
        if model_id in self.pinned():
            self.set_pinned(model_id, False)

    def clean_up(self, older_than: float = STALE_AFTER) -> list[Path]:
        """Remove what interrupted saves left, once older than ``older_than`` seconds (see
        STALE_AFTER): temporary files (``_write_atomically``'s and ``unwritable``'s probes) and
        weights whose JSON never came. Returns the paths removed. Never raises: what cannot be
        removed (a read-only store) is logged and left."""
        cutoff = time.time() - older_than
        removed = []
        for path in self._leftovers():
            try:
                st = path.lstat()
                if st.st_mtime >= cutoff or stat.S_ISDIR(st.st_mode):
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as err:
                log.warning("could not remove %s: %s", path, why(err))
                continue
            log.info("removed %s, left by an interrupted save", path)
            removed.append(path)
        return removed

    def _leftovers(self) -> list[Path]:
        try:
            temporary = [*self.dir.glob(".*.tmp"), *self.root.glob(".showcase.json.*.tmp")]
            orphans = [p for p in self.dir.glob("*.safetensors")
                       if is_model_id(p.name.split(".")[0])
                       and not os.path.lexists(self.dir / f"{p.name.split('.')[0]}.json")]
        except OSError as err:
            log.warning("could not look for leftovers in %s: %s", self.dir, why(err))
            return []
        return temporary + orphans

    # --- the showcase: models the teacher pinned -------------------------------------------

    @property
    def _showcase_path(self) -> Path:
        return self.root / "showcase.json"

    def pinned(self) -> frozenset[str]:
        """The ids of the pinned models. Never raises: an unreadable file pins nothing."""
        now = stamp(self._showcase_path)
        seen, ids = self._pins
        if now != seen:          # a file still missing is not opened again: it pins nothing
            ids = self._read_pins()
            self._pins = (now, ids)
        return ids

    def _read_pins(self) -> frozenset[str]:
        try:
            ids = json.loads(read_regular_file(self._showcase_path, MAX_JSON_BYTES)).get(
                "pinned", [])
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError, AttributeError, RecursionError) as err:
            log.warning("ignoring %s: %s", self._showcase_path, why(err))
            return frozenset()
        return frozenset(i for i in ids if is_model_id(i)) if isinstance(ids, list) else (
            frozenset())

    def set_pinned(self, model_id: str, pinned: bool = True) -> None:
        """Pin a usable stored model to the showcase, or take any id off it."""
        _require_id(model_id)
        if pinned:
            entry = self.get(model_id)
            if entry is None:
                raise StoreError(f"No stored model {model_id}.")
            if not entry.ok:
                raise StoreError(f"Model {model_id} cannot be pinned: {entry.problem}")
        ids = set(self.pinned())
        ids = ids | {model_id} if pinned else ids - {model_id}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomically(self._showcase_path,
                              json.dumps({"pinned": sorted(ids)}, indent=1).encode())
        except OSError as err:
            raise explain_os_error(err, self.root) from None

    # --- reading ---------------------------------------------------------------------------

    def list(self) -> list[StoredModel]:
        """Every model whose JSON exists, newest first; unusable ones carry a ``problem``.
        Never raises: an unreadable folder is an empty list. A JSON whose name is not a model
        id is no model of the store's (and could not be deleted by id): it is left alone."""
        try:
            metas = sorted(self.dir.glob("*.json"))
        except OSError:
            return []
        found = [self._check(p.stem) for p in metas if is_model_id(p.stem)]
        return sorted(found, key=lambda m: m.created or "", reverse=True)

    def get(self, model_id: str) -> StoredModel | None:
        """The model, usable or not, or None when there is none by that id. Raises StoreError
        only for a string that is not a model id."""
        # lexists: a JSON that is a broken link is listed, so it must be found here to be deleted
        return self._check(model_id) if os.path.lexists(self._paths(model_id)[1]) else None

    def find(self, spec: ModelSpec) -> StoredModel | None:
        """The usable stored model for this spec, if any."""
        found = self.get(spec.key)
        return found if found is not None and found.ok else None

    def weights_bytes(self, model_id: str) -> bytes:
        try:
            return read_regular_file(self._paths(model_id)[0], MAX_WEIGHTS_BYTES)
        except (OSError, ValueError) as err:
            raise StoreError(f"Cannot read the weights of model {model_id}: {why(err)}.") from None

    def frames(self, model_id: str) -> LatentFrames | None:
        """The frames of a model's latent map while it trained, or None when it has none (a
        sequence model, or one stored before frames were). StoreError,
        in a plain sentence, when its frames file cannot be used: only the replay is lost,
        never the model."""
        try:
            return LatentFrames.from_bytes(read_regular_file(self._frames_path(model_id),
                                                             MAX_FRAMES_BYTES))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:     # FramesUnusable is a ValueError
            what = str(err) if isinstance(err, FramesUnusable) else why(err)
            raise StoreError(f"The replay of how this model's map formed is unavailable: its "
                             f"frames file cannot be used ({what}).") from None

    def load(self, model_id: str) -> tuple[torch.nn.Module, ModelRecord]:
        """(model in eval mode, its record): the files read and checked once, here. Raises
        StoreError when there is no such model or its files cannot be used."""
        if not os.path.lexists(self._paths(model_id)[1]):
            raise StoreError(f"No stored model {model_id}.")
        entry, model = self._examine(model_id)
        if not entry.ok:
            raise StoreError(f"Model {model_id} cannot be loaded: {entry.problem}")
        return model.eval(), entry.record

    def _check(self, model_id: str) -> StoredModel:
        """The model's verdict, from memory while its files are the ones it was made from."""
        with self._lock:
            cached = self._checked.get(model_id)
        if cached and cached[0] == self._stamps(model_id):
            return cached[1]
        return self._examine(model_id)[0]

    def _stamps(self, model_id: str) -> tuple:
        return tuple(stamp(p) for p in self._paths(model_id))

    def _examine(self, model_id: str) -> tuple[StoredModel, torch.nn.Module | None]:
        """Read and check both files: (the model as listed, the network when it is usable).
        The verdict is remembered under the stamps the files had before they were read."""
        stamps = self._stamps(model_id)
        entry, model = self._read(model_id)
        with self._lock:
            self._checked[model_id] = (stamps, entry)
        return entry, model

    def _read(self, model_id: str) -> tuple[StoredModel, torch.nn.Module | None]:
        weights, meta_path = self._paths(model_id)
        try:
            record = ModelRecord.from_json(read_regular_file(meta_path, MAX_JSON_BYTES), model_id)
        except Unusable as err:
            return StoredModel(model_id, None, str(err)), None
        except (OSError, ValueError) as err:
            return StoredModel(model_id, None, f"its description file is unreadable "
                                               f"({why(err)})"), None
        try:
            network = layout(record.spec)     # another version's model: said before its weights
            payload = read_regular_file(weights, MAX_WEIGHTS_BYTES)
            return StoredModel(model_id, record), with_weights(network, payload, record.spec)
        except FileNotFoundError:
            problem = "its weights file is missing"
        except Unusable as err:
            problem = str(err)
        except (OSError, ValueError) as err:
            problem = f"its weights file cannot be read ({why(err)})"
        return StoredModel(model_id, record, problem), None
