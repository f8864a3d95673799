"""Trained models on disk: ``<id>.safetensors`` (the weights, never a pickle) beside ``<id>.json``
(spec, metrics, loss history, creation time, library versions).

Every file is written to a temporary name and renamed into place, the JSON last: a model exists
only once its JSON does, so a process killed mid-save leaves nothing half-listed; what such a
process leaves behind (temporary files, weights without their JSON) ``clean_up`` removes.

Nothing on disk is trusted: a JSON is checked field by field against what the app reads, and a
file is read only when it is a regular file of bounded size (a FIFO would block the reader, a
link to /dev/zero would fill the memory). A model that fails any check is listed with the
problem in plain words, never raised, and can still be deleted. Ids are checked before they
become paths, so no call reaches outside the store's folder.

Beside the models, ``showcase.json`` lists the models the teacher has pinned: the ones the pages
show by default, before the first-start zoo's.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aedemo.errors import Explained
from aedemo.models import build
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
    id: str
    meta: dict[str, Any] | None       # the JSON, or None when it cannot be read
    problem: str | None = None        # why this model cannot be used, for the user

    @property
    def ok(self) -> bool:
        return self.problem is None

    # The store only builds a StoredModel with a meta that passed _meta_problem, so none of
    # these can raise.

    @property
    def spec(self) -> ModelSpec | None:
        """The spec, or None when the JSON cannot be read."""
        return ModelSpec.from_dict(self.meta["spec"]) if self.meta is not None else None

    @property
    def metrics(self) -> dict[str, float]:
        return current_metric_names((self.meta or {}).get("metrics", {}))

    @property
    def owner(self) -> str | None:
        """Who asked for it: a browser session's id, the zoo's owner, or None (the CLI)."""
        return (self.meta or {}).get("owner")


# Metrics saved under a name that no longer says what they hold: recon + KL is the *negative*
# ELBO (a positive number of nats), which models saved before the rename called "elbo".
RENAMED_METRICS = {"elbo": "neg_elbo"}


def current_metric_names(metrics: dict[str, float]) -> dict[str, float]:
    """A stored model's test metrics under today's names."""
    return {RENAMED_METRICS.get(name, name): value for name, value in metrics.items()}


# --- what a model's JSON must hold before anything reads it -----------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite int or float (JSON's NaN and Infinity are not; neither is true or false)."""
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_seconds(value: object) -> bool:
    return _is_number(value) and value >= 0


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_table(value: object, is_value: Callable[[object], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and is_value(v)
                                           for k, v in value.items())


def _is_terms(value: object) -> bool:
    """{"mse": 0.01, ...}: test metrics, or an epoch's loss terms."""
    return _is_table(value, _is_number)


def _is_epoch(value: object) -> bool:
    """One entry of the history as ``train.fit`` writes it: {"epoch": 1, "seconds": 0.5,
    "train": {"loss": ..., "recon": ..., <terms>}, "test": {the same, or nothing}}. Every
    variant's terms include "loss" and "recon", which the loss curves read."""
    if not isinstance(value, dict):
        return False
    train, test = value.get("train"), value.get("test", {})
    return (_is_int(value.get("epoch")) and value["epoch"] >= 1
            and _is_seconds(value.get("seconds", 0))
            and _is_terms(train) and {"loss", "recon"} <= train.keys()
            and _is_terms(test) and (not test or {"loss", "recon"} <= test.keys()))


def _is_spec(value: object) -> bool:
    """A dict that ModelSpec.from_dict accepts, with the fields the pages and the CLI read;
    whether its variant and hyperparameters can be built is _restore's question."""
    if not isinstance(value, dict):
        return False
    hparams, normal = value.get("hparams"), value.get("normal", [])
    if not (_is_text(value.get("variant")) and _is_text(value.get("dataset"))
            and isinstance(value.get("train"), dict)
            and isinstance(hparams, dict) and _is_int(hparams.get("latent_dim"))
            and isinstance(normal, list) and all(_is_int(c) for c in normal)):
        return False
    try:
        ModelSpec.from_dict(value)
    except (ValueError, TypeError, KeyError):
        return False
    return True


# field: (required, what it must be in words, the check). ``save`` writes every field; models
# saved before owners were recorded have no "owner", and "versions" is for people only.
META_SCHEMA: dict[str, tuple[bool, str, Callable[[object], bool]]] = {
    "id": (True, "text", _is_text),              # and the file's name: see _meta_problem
    "spec": (True, "a model description this version of aedemo reads", _is_spec),
    "owner": (False, "text or null", lambda v: v is None or _is_text(v)),
    "metrics": (True, "a table of names to finite numbers", _is_terms),
    "history": (True, "a list of epochs as training writes them",
                lambda v: isinstance(v, list) and all(_is_epoch(e) for e in v)),
    "seconds": (True, "a finite number of seconds, not negative", _is_seconds),
    "created": (True, "a date written as text", _is_text),
    "versions": (False, "a table of package names to versions",
                 lambda v: _is_table(v, _is_text)),
}


def _meta_problem(meta: object, model_id: str) -> str | None:
    """Why ``meta`` (a parsed JSON) cannot be the description of model ``model_id``, or None."""
    if not isinstance(meta, dict):
        return "it is not a JSON object"
    for name, (required, what, check) in META_SCHEMA.items():
        if name not in meta:
            if required:
                return f"it has no {name!r}"
        elif not check(meta[name]):
            return f"its {name!r} is not {what}"
    if meta["id"] != model_id:
        return f"its 'id' is not its file's name ({model_id})"
    return None


# --- reading files that may be anything ------------------------------------------------------

def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket or other special file"


def _require_regular(st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"it is {_file_kind(st.st_mode)}, not a file")
    if st.st_size > limit:
        raise ValueError(f"it holds {st.st_size:,} bytes, more than the {limit:,} a model's "
                         f"file may")


def _read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else a
    ValueError that says what it is (OSError as usual for a missing or forbidden file).
    Never blocks: a FIFO or a device is refused from its stat before it is opened, and the
    open does not wait (O_NONBLOCK) in case one was swapped in between, which fstat then sees."""
    _require_regular(path.stat(), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        _require_regular(os.fstat(fd), limit)
        with os.fdopen(fd, "rb") as f:
            fd = -1                                  # the file object closes it now
            payload = f.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(payload) > limit:                         # it grew after the fstat
        raise ValueError(f"it holds more than the {limit:,} bytes a model's file may")
    return payload


def _why(err: Exception) -> str:
    """An error in a few plain words: the OS's own for an OSError, else its message."""
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def _remove(path: Path) -> None:
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


# A weight that is NaN or infinite makes every output NaN: a page that shows such a model to the
# class (a pinned VAE's latent map) breaks for everyone, so the store neither writes nor reads one.
NOT_FINITE_SAVE = ("Training ended with weights that are not numbers (NaN or infinite), so the "
                   "model was not saved. Try a smaller learning rate.")
NOT_FINITE_LOAD = "its weights hold values that are not numbers (NaN or infinite)"


def _all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("aedemo", "torch", "torchvision", "numpy", "scikit-learn", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = torch.__version__ if pkg == "torch" else "n/a"
    return out


def _explain_os_error(err: OSError, root: Path,
                      outcome: str = "the model was not saved") -> StoreError:
    """The OS's refusal as a plain sentence; where the store is and the OS's words are the
    detail, for the teacher and the log only (aedemo.errors)."""
    detail = f"{root}: {_why(err)}"
    if err.errno == errno.ENOSPC:
        return StoreError(f"The model store is full (no space left on the disk), so {outcome}. "
                          f"The teacher can free some space or delete old models.", detail)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"The model store is read-only, so {outcome}.",
                          f"{detail}; set AEDEMO_HOME to a folder the server can write to")
    return StoreError(f"The model store could not be written to, so {outcome}.", detail)


def _write_atomically(path: Path, payload: bytes) -> None:
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


class ModelStore:
    def __init__(self, home: Path | str | None = None):
        self.root = Path(home) if home is not None else default_home()
        self.dir = self.root / "models"
        self._lock = threading.Lock()
        # listing validates every weights file; remember the verdicts by file size and mtime
        self._checked: dict[str, tuple[tuple, StoredModel]] = {}

    def _paths(self, model_id: str) -> tuple[Path, Path]:
        """(weights, JSON) of a model; StoreError for a string that is not a model id, so no
        caller can name a file outside the store ("../../x")."""
        _require_id(model_id)
        return self.dir / f"{model_id}.safetensors", self.dir / f"{model_id}.json"

    # --- writing ---------------------------------------------------------------------------

    def save(self, spec: ModelSpec, trained: Trained, owner: str | None = None) -> StoredModel:
        model_id = spec.key
        weights, meta_path = self._paths(model_id)
        meta = {"id": model_id, "spec": spec.to_dict(), "owner": owner,
                "metrics": trained.metrics, "history": trained.history,
                "seconds": round(trained.seconds, 2),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": _versions()}
        state = {k: v.detach().cpu().contiguous() for k, v in trained.model.state_dict().items()}
        if not _all_finite(state):
            raise StoreError(NOT_FINITE_SAVE)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(weights, save_safetensors(state))
            _write_atomically(meta_path, json.dumps(meta, indent=1).encode())   # commit point
        except OSError as err:
            raise _explain_os_error(err, self.root) from None
        return StoredModel(model_id, meta)

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
            return _explain_os_error(err, self.root, "nothing can be trained now")
        return None

    def delete(self, model_id: str) -> None:
        """Remove a model, usable or not, whatever its files have become."""
        weights, meta_path = self._paths(model_id)
        try:
            _remove(meta_path)      # the JSON first: the model is gone at once
            _remove(weights)
        except OSError as err:
            raise _explain_os_error(err, self.root, "the model was not deleted") from None
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
                log.warning("could not remove %s: %s", path, _why(err))
                continue
            log.info("removed %s, left by an interrupted save", path)
            removed.append(path)
        return removed

    def _leftovers(self) -> list[Path]:
        try:
            temporary = [*self.dir.glob(".*.tmp"), *self.root.glob(".showcase.json.*.tmp")]
            orphans = [p for p in self.dir.glob("*.safetensors")
                       if is_model_id(p.stem) and not os.path.lexists(p.with_suffix(".json"))]
        except OSError as err:
            log.warning("could not look for leftovers in %s: %s", self.dir, _why(err))
            return []
        return temporary + orphans

    # --- the showcase: models the teacher pinned -------------------------------------------

    @property
    def _showcase_path(self) -> Path:
        return self.root / "showcase.json"

    def pinned(self) -> frozenset[str]:
        """The ids of the pinned models. Never raises: an unreadable file pins nothing."""
        try:
            ids = json.loads(_read_regular_file(self._showcase_path, MAX_JSON_BYTES)).get(
                "pinned", [])
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError, AttributeError, RecursionError) as err:
            log.warning("ignoring %s: %s", self._showcase_path, _why(err))
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
            _write_atomically(self._showcase_path,
                              json.dumps({"pinned": sorted(ids)}, indent=1).encode())
        except OSError as err:
            raise _explain_os_error(err, self.root) from None

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
        return sorted(found, key=lambda m: (m.meta or {}).get("created", ""), reverse=True)

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
            return _read_regular_file(self._paths(model_id)[0], MAX_WEIGHTS_BYTES)
        except (OSError, ValueError) as err:
            raise StoreError(f"Cannot read the weights of model {model_id}: {_why(err)}.") from None

    def load(self, model_id: str):
        """(model in eval mode, its JSON). Raises StoreError when the files cannot be used."""
        entry = self.get(model_id)
        if entry is None:
            raise StoreError(f"No stored model {model_id}.")
        if not entry.ok:
            raise StoreError(f"Model {model_id} cannot be loaded: {entry.problem}")
        model, problem = self._restore(model_id, entry.meta)
        if problem:
            raise StoreError(f"Model {model_id} cannot be loaded: {problem}")
        return model.eval(), entry.meta

    def _stamp(self, model_id: str) -> tuple:
        stamp = []
        for p in self._paths(model_id):
            try:
                st = p.stat()
                stamp.append((st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append(None)
        return tuple(stamp)

    def _check(self, model_id: str) -> StoredModel:
        stamp = self._stamp(model_id)
        with self._lock:
            cached = self._checked.get(model_id)
        if cached and cached[0] == stamp:
            return cached[1]
        entry = self._check_uncached(model_id)
        with self._lock:
            self._checked[model_id] = (stamp, entry)
        return entry

    def _check_uncached(self, model_id: str) -> StoredModel:
        _, meta_path = self._paths(model_id)
        try:
            meta = json.loads(_read_regular_file(meta_path, MAX_JSON_BYTES))
        except (OSError, ValueError, RecursionError) as err:     # RecursionError: [[[[...]]]]
            return StoredModel(model_id, None, f"its description file is unreadable ({_why(err)})")
        invalid = _meta_problem(meta, model_id)
        if invalid:
            return StoredModel(model_id, None, f"its description file is invalid: {invalid}")
        _, problem = self._restore(model_id, meta)
        return StoredModel(model_id, meta, problem)

    def _restore(self, model_id: str, meta: dict[str, Any]):
        """Rebuild the model from its JSON and load its weights: (model, None) or (None, why)."""
        weights, _ = self._paths(model_id)
        spec = meta["spec"]
        try:
            model = build(spec["variant"], spec["hparams"])
        except (ValueError, TypeError, ArithmeticError) as err:     # ranges, types, int(inf)
            return None, f"it was made by another version of aedemo ({err})"
        try:
            payload = _read_regular_file(weights, MAX_WEIGHTS_BYTES)
        except FileNotFoundError:
            return None, "its weights file is missing"
        except (OSError, ValueError) as err:
            return None, f"its weights file cannot be read ({_why(err)})"
        try:
            state = load_safetensors(payload)     # plain tensors: no pickle
        except (SafetensorError, ValueError) as err:
            return None, f"its weights file is corrupt or truncated ({err})"
        if not _all_finite(state):
            return None, NOT_FINITE_LOAD
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).splitlines()[1:2] or [str(err)]
            return None, f"its weights do not fit the {spec['variant']} model ({first[0].strip()})"
        return model, None
