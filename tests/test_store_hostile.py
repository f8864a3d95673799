"""The model store against whatever a careless admin or an unkind student leaves on disk: every
case is listed with a plain problem, can be deleted, and neither a page nor the CLI sees a
traceback, a hang or a MemoryError."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import pytest

from aedemo import cli
from aedemo.store import MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, STALE_AFTER, ModelStore, StoreError
from support import trained_tiny


@pytest.fixture(scope="module")
def trained():
    """One real training run (the shape of JSON the schema must accept), shared by the file."""
    return trained_tiny("vae", 3)


@pytest.fixture
def saved(trained):
    """(store, id) of a freshly saved model in this test's AEDEMO_HOME."""
    spec, result = trained
    store = ModelStore()
    return store, store.save(spec, result).id


def files_of(store: ModelStore, model_id: str) -> tuple[Path, Path]:
    return store.dir / f"{model_id}.safetensors", store.dir / f"{model_id}.json"


def finishes(call, timeout: float = 30):
    """``call()`` in a thread: its result, or a failed test (never a hung one) if it blocks."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as err:        # handed to the test's thread below
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{call} blocked for {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m aedemo ARGS`` in this process: a traceback would fail the test itself."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def everything_unusable_but_harmless(store: ModelStore, model_id: str, words: str) -> None:
    """Listed and found with ``words`` in its problem; its properties do not raise; loading it
    says why; its files can be deleted."""
    listed = {m.id: m for m in store.list()}
    entry = store.get(model_id)
    assert listed[model_id] == entry and not entry.ok and words in entry.problem
    # what the pages read of an entry does not raise either
    assert (entry.spec is None) == (entry.meta is None) and isinstance(entry.metrics, dict)
    assert entry.owner is None
    with pytest.raises(StoreError, match="cannot be loaded"):
        store.load(model_id)
    store.delete(model_id)
    assert store.get(model_id) is None and model_id not in {m.id for m in store.list()}
    assert not any(os.path.lexists(p) for p in files_of(store, model_id))


# --- description files that parse but do not say what the app reads -------------------------

def with_spec(**changes):
    return lambda meta: {**meta, "spec": {**meta["spec"], **changes}}


def with_hparams(**changes):
    return lambda meta: {**meta, "spec": {**meta["spec"],
                                          "hparams": {**meta["spec"]["hparams"], **changes}}}


def without(name):
    return lambda meta: {k: v for k, v in meta.items() if k != name}


def epoch(**changes):
    entry = {"epoch": 1, "seconds": 0.5, "train": {"loss": 1.0, "recon": 1.0}, "test": {}}
    return [{**entry, **changes}]


BAD_META = {         # (what is changed, a word the problem must name)
    "metrics a list": (lambda m: {**m, "metrics": []}, "'metrics'"),
    "metrics NaN": (lambda m: {**m, "metrics": {"mse": math.nan}}, "'metrics'"),
    "metrics text": (lambda m: {**m, "metrics": {"mse": "0.1"}}, "'metrics'"),
    "metrics true": (lambda m: {**m, "metrics": {"mse": True}}, "'metrics'"),
    "no metrics": (without("metrics"), "'metrics'"),
    "history text": (lambda m: {**m, "history": "x"}, "'history'"),
    "history of lists": (lambda m: {**m, "history": [[1]]}, "'history'"),
    "epoch without recon": (lambda m: {**m, "history": [{"epoch": 1, "train": {"loss": 1}}]},
                            "'history'"),
    "epoch zero": (lambda m: {**m, "history": epoch(epoch=0)}, "'history'"),
    "epoch test loss inf": (lambda m: {**m, "history": epoch(test={"loss": math.inf,
                                                                    "recon": 1.0})},
                            "'history'"),
    "epoch train a list": (lambda m: {**m, "history": epoch(train=[1])}, "'history'"),
    "created a number": (lambda m: {**m, "created": 5}, "'created'"),
    "no created": (without("created"), "'created'"),
    "owner a number": (lambda m: {**m, "owner": 7}, "'owner'"),
    "id of another": (lambda m: {**m, "id": "0123456789ab"}, "'id'"),
    "id a list": (lambda m: {**m, "id": ["x"]}, "'id'"),
    "seconds infinite": (lambda m: {**m, "seconds": math.inf}, "'seconds'"),
    "seconds null": (lambda m: {**m, "seconds": None}, "'seconds'"),
    "seconds negative": (lambda m: {**m, "seconds": -1}, "'seconds'"),
    "versions of numbers": (lambda m: {**m, "versions": {"torch": 2}}, "'versions'"),
    "spec hparams a list": (lambda m: {**m, "spec": {"hparams": [1]}}, "'spec'"),
    "spec a list": (lambda m: {**m, "spec": []}, "'spec'"),
    "spec hparams a list, all else there": (with_spec(hparams=[1]), "'spec'"),
    "spec train a list": (with_spec(train=[1]), "'spec'"),
    "spec train unknown": (with_spec(train={"momentum": 1}), "'spec'"),
    "spec train epochs infinite": (with_spec(train={"epochs": math.inf}), "'spec'"),
    "spec normal text": (with_spec(normal="abc"), "'spec'"),
    # a detector's classes beyond the ten digits reached the Anomaly page as an IndexError
    "spec normal beyond the digits": (with_spec(normal=[99, -1]), "'spec'"),
    "spec normal repeated": (with_spec(normal=[3, 3]), "'spec'"),
    "spec normal out of order": (with_spec(normal=[5, 3]), "'spec'"),
    "spec variant null": (with_spec(variant=None), "'spec'"),
    "latent_dim null": (with_hparams(latent_dim=None), "'spec'"),
    "latent_dim text": (with_hparams(latent_dim="3"), "'spec'"),
    "no spec": (without("spec"), "'spec'"),
    "not an object": (lambda m: [m], "not a JSON object"),
    "latent_dim out of range": (with_hparams(latent_dim=10_000), "another version"),
    "unknown variant": (with_spec(variant="gan"), "another version"),
}


@pytest.mark.parametrize("change, words", BAD_META.values(), ids=BAD_META)
def test_a_wrong_description_is_listed_with_its_problem_and_can_be_deleted(saved, change,
                                                                           words, capsys):
    store, model_id = saved
    _, meta_path = files_of(store, model_id)
    meta_path.write_text(json.dumps(change(json.loads(meta_path.read_text()))))

    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and f"{model_id}  UNREADABLE" in out and words in out
    code, out, _ = run_cli(capsys, "list", "--json")
    (row,) = json.loads(out)
    assert code == 0 and not row["ok"] and words in row["problem"]
    code, _, err = run_cli(capsys, "evaluate", model_id)
    assert code == 1 and "cannot be loaded" in err and words in err
    code, _, err = run_cli(capsys, "pin", model_id)
    assert code == 1 and "cannot be pinned" in err
    assert run_cli(capsys, "unpin", model_id)[0] == 0
    everything_unusable_but_harmless(ModelStore(), model_id, words)


def test_a_description_of_nested_lists_is_unreadable_not_a_recursion_error(saved):
    store, model_id = saved
    files_of(store, model_id)[1].write_text("[" * 100_000 + "]" * 100_000)
    everything_unusable_but_harmless(store, model_id, "unreadable")


# --- files that are not files -----------------------------------------------------------------

def make_hostile(path: Path, kind: str) -> None:
    """Put something in ``path``'s place that read_bytes would block on, fill the memory with
    or fail on."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)              # no writer: an open() for reading waits for ever
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")     # reads never end
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    elif kind == "huge":             # sparse: takes no room, but read_bytes would hold it all
        limit = MAX_WEIGHTS_BYTES if path.suffix == ".safetensors" else MAX_JSON_BYTES
        with open(path, "wb") as f:
            f.truncate(limit + 1)


KINDS = {"fifo": "pipe", "dev-zero": "device", "folder": "folder", "huge": "bytes"}


@pytest.mark.parametrize("kind", KINDS)
def test_weights_that_are_not_a_bounded_file_are_a_problem_not_a_hang(saved, kind):
    store, model_id = saved
    weights, _ = files_of(store, model_id)
    make_hostile(weights, kind)
    fresh = ModelStore()
    with pytest.raises(StoreError, match=f"Cannot read the weights.*{KINDS[kind]}"):
        finishes(lambda: fresh.weights_bytes(model_id))
    finishes(lambda: everything_unusable_but_harmless(fresh, model_id, KINDS[kind]))


@pytest.mark.parametrize("kind", KINDS)
def test_a_description_that_is_not_a_bounded_file_is_a_problem_not_a_hang(saved, kind,
                                                                          capsys):
    store, model_id = saved
    make_hostile(files_of(store, model_id)[1], kind)
    code, out, _ = finishes(lambda: run_cli(capsys, "list"))
    assert code == 0 and "UNREADABLE" in out and KINDS[kind] in out
    finishes(lambda: everything_unusable_but_harmless(ModelStore(), model_id, KINDS[kind]))


def test_a_showcase_file_that_is_a_fifo_pins_nothing(saved):
    store, _ = saved
    os.mkfifo(store.root / "showcase.json")
    assert finishes(store.pinned) == frozenset()


def test_a_json_not_named_as_a_model_is_left_alone(saved):
    store, model_id = saved
    stray = store.dir / "notes.json"
    stray.write_text("{}")
    assert [m.id for m in store.list()] == [model_id] and stray.exists()


# --- ids that are paths -----------------------------------------------------------------------

@pytest.fixture
def outside(saved, tmp_path) -> tuple[str, str, list[Path]]:
    """A real model's two files outside the store, and the two ways to name them from inside:
    (relative id, absolute id, the files)."""
    store, model_id = saved
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    victims = []
    for source in files_of(store, model_id):
        victims.append(folder / f"victim{source.suffix}")
        victims[-1].write_bytes(source.read_bytes())
    victims[1].write_text(victims[1].read_text().replace(model_id, "victim"))
    return os.path.relpath(folder / "victim", store.dir), str(folder / "victim"), victims


CALLS = {"get": lambda s, i: s.get(i), "delete": lambda s, i: s.delete(i),
         "load": lambda s, i: s.load(i), "weights_bytes": lambda s, i: s.weights_bytes(i),
         "pin": lambda s, i: s.set_pinned(i, True), "unpin": lambda s, i: s.set_pinned(i, False)}


@pytest.mark.parametrize("which", ["relative", "absolute"])
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_the_store_refuses_an_id_that_is_a_path(outside, call, which):
    relative, absolute, victims = outside
    with pytest.raises(StoreError, match="not a model id"):
        call(ModelStore(), relative if which == "relative" else absolute)
    assert all(v.exists() for v in victims)
    assert not (ModelStore().root / "showcase.json").exists()


@pytest.mark.parametrize("which", ["relative", "absolute"])
@pytest.mark.parametrize("command", ["delete", "evaluate", "pin", "unpin"])
def test_the_cli_refuses_an_id_that_is_a_path(outside, command, which, capsys):
    relative, absolute, victims = outside
    code, out, err = run_cli(capsys, command, relative if which == "relative" else absolute)
    assert code != 0 and "not a model id" in err and not out
    assert all(v.exists() for v in victims)


# --- what interrupted saves leave -------------------------------------------------------------

def test_clean_up_removes_old_leftovers_and_keeps_fresh_ones_and_models(saved):
    store, model_id = saved
    old = time.time() - STALE_AFTER - 60
    stale = [store.dir / f".{model_id}.json.a1b2c3.tmp", store.dir / ".probe.d4e5f6.tmp",
             store.root / ".showcase.json.g7h8i9.tmp", store.dir / "0123456789ab.safetensors"]
    fresh = [store.dir / f".{model_id}.safetensors.j0k1l2.tmp",
             store.dir / "abcdefabcdef.safetensors"]          # a save between its two files
    kept = [*fresh, store.dir / "notes.txt", *files_of(store, model_id)]
    for path in [*stale, *fresh, store.dir / "notes.txt"]:
        path.write_bytes(b"x")
    for path in [*stale, *kept[len(fresh):]]:
        os.utime(path, (old, old))
    assert sorted(store.clean_up()) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert ModelStore().load(model_id)                        # an old model is no leftover
    assert store.clean_up() == []


def test_clean_up_on_a_read_only_store_logs_and_removes_nothing(saved, monkeypatch, caplog):
    store, _ = saved
    leftover = store.dir / ".probe.abcdef.tmp"
    leftover.write_bytes(b"x")
    old = time.time() - STALE_AFTER - 60
    os.utime(leftover, (old, old))

    def read_only(self, missing_ok=False):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", read_only)
    with caplog.at_level(logging.WARNING, logger="aedemo.store"):
        assert store.clean_up() == []
    assert "Read-only file system" in caplog.text and leftover.exists()


def test_clean_up_of_a_store_that_does_not_exist_is_nothing(tmp_path):
    assert ModelStore(tmp_path / "nowhere").clean_up() == []


# --- weights that are not numbers -----------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_weights_that_are_not_numbers_are_refused_at_save(trained, bad):
    """A model whose weights hold NaN or inf gives NaN everywhere: not stored, and the job that
    trained it fails with the store's plain sentence."""
    import copy
    import dataclasses

    spec, result = trained
    broken = copy.deepcopy(result.model)
    next(iter(broken.parameters())).data[0] = bad
    store = ModelStore()
    with pytest.raises(StoreError, match=r"not numbers \(NaN or infinite\).*not saved"):
        store.save(spec, dataclasses.replace(result, model=broken))
    assert store.list() == []


def test_weights_that_are_not_numbers_on_disk_are_listed_as_unusable(saved):
    """A file that a save never wrote (by hand, another version): listed with the reason,
    refused by load, and deletable, like other broken files."""
    import torch
    from safetensors.torch import load_file, save_file

    store, model_id = saved
    weights, _ = files_of(store, model_id)
    state = load_file(weights)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], math.nan)
    save_file(state, weights)
    everything_unusable_but_harmless(store, model_id, "not numbers (NaN or infinite)")
