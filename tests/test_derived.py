"""Service.derived, the one owner of derived results: its key names the lesson function, the
stored models (id and creation stamp), the dataset and the parameters; the models are loaded only
when the result is computed; the memo keeps it for every caller; t-SNE's background and waiting
modes; a lambda or a closure, which no name describes, is refused."""

from __future__ import annotations

import threading
import time

import pytest
from test_showcase import stored, student_spec

from aedemo.service import When

CALLS: list[tuple] = []             # what the functions below were called with, per test
RELEASE = threading.Event()


@pytest.fixture
def svc(quiet_service):
    CALLS.clear()
    RELEASE.clear()
    return quiet_service


def twice(model, data, n):
    CALLS.append((model, data, n))
    return n * 2


def fresh_object(model, data):
    return object()


def training_size(data):
    return len(data.x_train)


def pair(a, b, data):
    return a is not None, b


def bare(model, k):
    return k


def byte_count(raw: bytes) -> int:
    CALLS.append((raw,))
    return len(raw)


def with_given(data, fitted, k):
    CALLS.append((fitted, k))
    return fitted["scale"] * k


def slow_map(data):
    CALLS.append((threading.current_thread(),))
    RELEASE.wait(10)
    return "map"


def test_computed_once_with_the_loaded_model_the_data_and_the_params(svc):
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    assert svc.derived(twice, entry, 3) == 6
    assert svc.derived(twice, entry, 3) == 6
    assert len(CALLS) == 1
    model, data, _ = CALLS[0]
    assert model is svc.load_model(entry.id) and data is svc.data
    assert svc.derived(twice, entry, 4) == 8            # another param, another key
    assert len(CALLS) == 2
    # the key is the function's qualified name
    assert any(key[0] == f"{__name__}.twice" for key in svc.memo._items if isinstance(key, tuple))


def test_a_retrained_model_under_the_same_id_is_a_new_key(svc):
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    first = svc.derived(fresh_object, entry)
    assert svc.derived(fresh_object, entry) is first
    retrained = svc.store.get(stored(svc.store, student_spec(), owner="s", seed=3))
    assert retrained.id == entry.id and retrained.meta["created"] != entry.meta["created"]
    assert svc.derived(fresh_object, retrained) is not first


def test_no_model_a_missing_model_and_no_data(svc):
    assert svc.derived(training_size) == len(svc.data.x_train)
    entry = svc.store.get(stored(svc.store, student_spec(), owner="s"))
    assert svc.derived(pair, (entry, None)) == (True, None)
    assert svc.derived(bare, entry, 5, data=False) == 5


def test_bytes_are_keyed_by_their_digest_and_computed_with_themselves(svc):
    raw = b"1,2,3\n" * 1000
    assert svc.derived(byte_count, None, raw, data=False) == len(raw)
    assert not any(raw in key for key in svc.memo._items if isinstance(key, tuple))
    # the same content in another object finds the kept result
    assert svc.derived(byte_count, None, bytes(raw), data=False) == len(raw)
    assert len(CALLS) == 1


def test_given_results_are_passed_but_not_keyed(svc):
    """A result derived before from the same data (a fitted PCA) is passed on, not keyed: the
    key already names what it follows from."""
    assert svc.derived(with_given, None, 3, given=({"scale": 2},)) == 6
    assert svc.derived(with_given, None, 3, given=({"scale": 2},)) == 6
    assert CALLS == [({"scale": 2}, 3)]


@pytest.mark.parametrize("compute", [lambda data: 1, pytest.param(None, id="closure")])
def test_a_lambda_or_a_closure_is_refused(svc, compute):
    if compute is None:
        def compute(data):                   # a function made inside another: a closure
            return 1
    with pytest.raises(TypeError, match="module-level function"):
        svc.derived(compute)


def test_background_then_ready_never_computes_on_the_callers_thread(svc):
    assert svc.derived(slow_map, when=When.BACKGROUND) is None
    assert svc.derived(slow_map, when=When.NEVER) is None
    RELEASE.set()
    deadline = time.monotonic() + 10
    while svc.derived(slow_map, when=When.NEVER) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert svc.derived(slow_map, when=When.BACKGROUND) == "map"
    threads = [c[0] for c in CALLS]
    assert threads and threading.current_thread() not in threads
    assert len(threads) == 1


def test_never_never_starts_a_computation(svc):
    assert svc.derived(byte_count, None, b"x", data=False, when=When.NEVER) is None
    # a computation would have started its thread before derived returned: wait for those
    for thread in threading.enumerate():
        if thread.name == "aedemo-compute":
            thread.join(10)
    assert CALLS == []
