"""Trained models on disk: ``<id>.safetensors`` (the weights, never a pickle) beside ``<id>.json``
(spec, metrics, loss history, creation time, library versions).

Every file is written to a temporary name and renamed into place, the JSON last: a model exists
only once its JSON does, so a process killed mid-save leaves nothing half-listed. A file that is
corrupt, truncated or no longer matches its variant is listed with the problem, never raised.

Beside the models, ``showcase.json`` lists the models the teacher has pinned: the ones the pages
show by default, before the first-start zoo's.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aedemo.models import build, get_variant
from aedemo.spec import ModelSpec, Trained

log = logging.getLogger(__name__)

FREE_SPACE_NEEDED = 50_000_000     # bytes: the largest model's weights, several times over


class StoreError(RuntimeError):
    """The store could not do what was asked; the message is meant for the user."""


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

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.meta["spec"])

    @property
    def variant(self) -> str:
        return (self.meta or {}).get("spec", {}).get("variant", "?")

    @property
    def latent_dim(self) -> int | None:
        return (self.meta or {}).get("spec", {}).get("hparams", {}).get("latent_dim")

    @property
    def metrics(self) -> dict[str, float]:
        return (self.meta or {}).get("metrics", {})

    @property
    def owner(self) -> str | None:
        """Who asked for it: a browser session's id, the zoo's owner, or None (the CLI)."""
        return (self.meta or {}).get("owner")


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
    if err.errno == errno.ENOSPC:
        return StoreError(f"The model store at {root} is full (no space left on the disk), so "
                          f"{outcome}. Free some space or delete old models.")
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"The model store at {root} is read-only, so {outcome}. Set "
                          f"AEDEMO_HOME to a folder the server can write to.")
    return StoreError(f"Could not write to the model store at {root} ({err.strerror or err}), "
                      f"so {outcome}.")


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
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(weights, save_safetensors(state))
            _write_atomically(meta_path, json.dumps(meta, indent=1).encode())   # commit point
        except OSError as err:
            raise _explain_os_error(err, self.root) from None
        return StoredModel(model_id, meta)

    def unwritable(self, room: int = FREE_SPACE_NEEDED) -> str | None:
        """Why a model could not be saved here now (a read-only folder, a full disk), or None.
        Asked before a job is queued, so a student hears it at once, not after training."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.dir)
            os.close(fd)
            os.unlink(probe)
            if shutil.disk_usage(self.dir).free < room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            return str(_explain_os_error(err, self.root, "nothing can be trained now"))
        return None

    def delete(self, model_id: str) -> None:
        weights, meta_path = self._paths(model_id)
        try:
            meta_path.unlink(missing_ok=True)     # the JSON first: the model is gone at once
            weights.unlink(missing_ok=True)
        except OSError as err:
            raise _explain_os_error(err, self.root) from None
        self._checked.pop(model_id, None)
        if model_id in self.pinned():
            self.set_pinned(model_id, False)

    # --- the showcase: models the teacher pinned -------------------------------------------

    @property
    def _showcase_path(self) -> Path:
        return self.root / "showcase.json"

    def pinned(self) -> frozenset[str]:
        """The ids of the pinned models. Never raises: an unreadable file pins nothing."""
        try:
            ids = json.loads(self._showcase_path.read_text()).get("pinned", [])
        except FileNotFoundError:
            return frozenset()
        except (OSError, ValueError, AttributeError) as err:
            log.warning("ignoring %s: %s", self._showcase_path, err)
            return frozenset()
        return frozenset(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else (
            frozenset())

    def set_pinned(self, model_id: str, pinned: bool = True) -> None:
        """Pin a stored model to the showcase, or take it off."""
        if pinned and self.get(model_id) is None:
            raise StoreError(f"No stored model {model_id}.")
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
        Never raises: an unreadable folder is an empty list."""
        try:
            metas = sorted(self.dir.glob("*.json"))
        except OSError:
            return []
        found = [self._check(p.stem) for p in metas if not p.name.startswith(".")]
        return sorted(found, key=lambda m: (m.meta or {}).get("created", ""), reverse=True)

    def get(self, model_id: str) -> StoredModel | None:
        return self._check(model_id) if self._paths(model_id)[1].exists() else None

    def find(self, spec: ModelSpec) -> StoredModel | None:
        """The usable stored model for this spec, if any."""
        found = self.get(spec.key)
        return found if found is not None and found.ok else None

    def weights_bytes(self, model_id: str) -> bytes:
        try:
            return self._paths(model_id)[0].read_bytes()
        except OSError as err:
            raise StoreError(f"Cannot read the weights of model {model_id}: "
                             f"{err.strerror}") from None

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
            meta = json.loads(meta_path.read_text())
            ModelSpec.from_dict(meta["spec"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            return StoredModel(model_id, None, f"its description file is unreadable ({err})")
        _, problem = self._restore(model_id, meta)
        return StoredModel(model_id, meta, problem)

    def _restore(self, model_id: str, meta: dict[str, Any]):
        """Rebuild the model from its JSON and load its weights: (model, None) or (None, why)."""
        weights, _ = self._paths(model_id)
        spec = meta["spec"]
        try:
            get_variant(spec["variant"])
            model = build(spec["variant"], spec["hparams"])
        except ValueError as err:
            return None, f"it was made by another version of aedemo ({err})"
        try:
            state = load_safetensors(weights.read_bytes())     # plain tensors: no pickle
        except FileNotFoundError:
            return None, "its weights file is missing"
        except (OSError, SafetensorError, ValueError) as err:
            return None, f"its weights file is corrupt or truncated ({err})"
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).splitlines()[1:2] or [str(err)]
            return None, f"its weights do not fit the {spec['variant']} model ({first[0].strip()})"
        return model, None
