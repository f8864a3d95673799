"""Service.derived, the one owner of derived results: its key names the stored models (id and
creation stamp), the dataset and the parameters; the models are loaded only when the result is
computed; the memo keeps it for every caller; t-SNE's background and waiting modes."""

from __future__ import annotations

import threading
import time

import pytest
from test_showcase import stored, student_spec

from aedemo.service import When


@pytest.fixture
def svc(quiet_service):
    return quiet_service


def test_computed_once_with_the_loaded_model_the_data_and_the_params(svc):
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    calls = []

    def compute(model, data, n):
        calls.append((model, data, n))
        return n * 2

    assert svc.derived("twice", entry, compute, 3) == 6
    assert svc.derived("twice", entry, compute, 3) == 6
    assert len(calls) == 1
    model, data, _ = calls[0]
    assert model is svc.load_model(entry.id) and data is svc.data
    assert svc.derived("twice", entry, compute, 4) == 8            # another param, another key
    assert len(calls) == 2


def test_a_retrained_model_under_the_same_id_is_a_new_key(svc):
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    first = svc.derived("stamp", entry, lambda model, data: object())
    retrained = svc.store.get(stored(svc.store, student_spec(), owner="s", seed=3))
    assert retrained.id == entry.id and retrained.meta["created"] != entry.meta["created"]
    assert svc.derived("stamp", retrained, lambda model, data: object()) is not first


def test_no_model_a_missing_model_and_no_data(svc):
    assert svc.derived("size", None, lambda data: len(data.x_train)) == len(svc.data.x_train)
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    pair = svc.derived("pair", (entry, None), lambda a, b, data: (a is not None, b))
    assert pair == (True, None)
    assert svc.derived("bare", entry, lambda model, k: k, 5, data=False) == 5


def test_bytes_are_keyed_by_their_digest_and_computed_with_themselves(svc):
    raw = b"1,2,3\n" * 1000
    got = svc.derived("upload", None, lambda b: len(b), raw, data=False)
    assert got == len(raw)
    assert not any(raw in key for key in svc.memo._items if isinstance(key, tuple))
    # the same content in another object finds the kept result
    assert svc.derived("upload", None, lambda b: -1, bytes(raw), data=False) == len(raw)


def test_background_then_ready_never_computes_on_the_callers_thread(svc):
    release = threading.Event()
    threads = []

    def slow(data):
        threads.append(threading.current_thread())
        release.wait(10)
        return "map"

    assert svc.derived("tsne", None, slow, when=When.BACKGROUND) is None
    assert svc.derived("tsne", None, slow, when=When.READY) is None
    release.set()
    deadline = time.monotonic() + 10
    while svc.derived("tsne", None, slow, when=When.READY) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert svc.derived("tsne", None, slow, when=When.BACKGROUND) == "map"
    assert threads and threading.current_thread() not in threads
    assert len(threads) == 1


def test_ready_never_starts_a_computation(svc):
    calls = []
    assert svc.derived("never", None, lambda data: calls.append(1), when=When.READY) is None
    # a computation would have started its thread before derived returned: wait for those
    for thread in threading.enumerate():
        if thread.name == "aedemo-compute":
            thread.join(10)
    assert calls == []
