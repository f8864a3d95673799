"""Derived results shared by every browser session (loaded models, codes, projections,
figures), kept in memory up to a budget of bytes rather than a count of entries.

A count said nothing about memory: one uploaded CSV's scores weighed some 60 MB and a model's
codes a few kB, so 256 "small" entries could hold gigabytes, never freed while the server ran.
Each entry is weighed once, when it is stored (``weigh``), and the least recently used go
first once the total passes the budget.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

MEMO_BYTES = 512 * 2**20     # beside the 1 GB a server holds under a class of 30 (README)
LARGEST_SHARE = 4            # an entry over a quarter of the budget is computed, not kept


def weigh(value: Any, _depth: int = 0) -> int:
    """Bytes held by ``value``, near enough to budget by: tensors and arrays by their data,
    modules by their parameters and buffers, containers, dataclasses and plotly figures by
    what they hold."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.nn.Module):
        return sum(weigh(t) for t in (*value.parameters(), *value.buffers()))
    if isinstance(value, (str, bytes, bytearray, int, float, bool)) or value is None:
        return sys.getsizeof(value)
    if _depth > 12:               # deep enough for any figure; below it, count the object
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(weigh(k, _depth + 1) + weigh(v, _depth + 1)
                                          for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(weigh(v, _depth + 1) for v in value)
    if hasattr(value, "to_plotly_json"):       # a plotly figure: its traces' arrays
        return weigh(value.to_plotly_json(), _depth + 1)
    if dataclasses.is_dataclass(value):
        return weigh(vars(value) if hasattr(value, "__dict__") else dataclasses.astuple(value),
                     _depth + 1)
    return sys.getsizeof(value)


class Memo:
    """A thread-safe LRU of derived results bounded by bytes; each key is computed at most once
    at a time, however many sessions ask for it together."""

    def __init__(self, max_bytes: int = MEMO_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}
        self._pending: set[Any] = set()

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:                       # twenty sessions asking at once compute it once
            with self._lock:
                if key in self._items:
                    return self._items[key][0]
            value = compute()
            size = weigh(value)
            with self._lock:
                self._key_locks.pop(key, None)
                if size * LARGEST_SHARE > self.max_bytes:
                    log.info("not keeping %r: %d bytes", key, size)
                    return value
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, freed) = self._items.popitem(last=False)
                    self._bytes -= freed
            return value

    def peek(self, key: Any) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            return hit[0] if hit else None

    def background(self, key: Any, compute: Callable[[], Any]) -> Any | None:
        """The value if it is ready; otherwise start computing it on a thread (once) and return
        None, so a page can say "computing…" and show it on a later rerun (t-SNE, for one)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            if key in self._pending:
                return None
            self._pending.add(key)

        def run() -> None:
            try:
                self.get(key, compute)
            except Exception:  # the page keeps saying "computing"; the log says why
                log.exception("background computation %r failed", key)
            finally:
                with self._lock:
                    self._pending.discard(key)

        threading.Thread(target=run, name="aedemo-compute", daemon=True).start()
        return None
