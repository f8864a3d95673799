"""What one stroke on the Draw page computes on the server (issue 21: mouse-up to the verdict
within 0.3 s). Everything that depends only on the stored models is computed once per model
version and kept: a second stroke reads no model file, loads no model, encodes no dataset,
builds no figure, and hashes none of the zoo's specs; it looks at the pins (showcase.json's
stamp) a few times whatever the number of models, and places the drawing once. Counted on the
real page script (AppTest), with a new drawing as the pad would send it (the page keeps it in
st.session_state["aedemo_drawing"]). Counts, not times: no thresholds that a busy machine
could break."""

from __future__ import annotations

import functools
import shutil
from collections import Counter

import pytest

from aedemo.lessons import draw
from aedemo.spec import ModelSpec
from aedemo.store import ModelStore
from aedemo.viz import draw as viz_draw
from page_support import a_drawing, no_exception

DRAW = "pages/draw.py"
# where a Draw run looks at the pins: the page's list of models (Service.models), its
# provenance for the row (Service.provenance_of) and the picker's labels (ui.viewer)
PIN_LOOKS = 3


@pytest.fixture
def counted(monkeypatch):
    """Counters of what a run computes, by name."""
    calls: Counter[str] = Counter()

    def count(owner, name, label=None):
        original = getattr(owner, name)

        @functools.wraps(original)          # the same module and name: the same memo keys
        def counting(*args, **kwargs):
            calls[label or name] += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, counting)

    count(ModelStore, "pinned", "pin looks")
    count(ModelStore, "_read_pins", "showcase.json reads")
    count(ModelStore, "_read", "model files read")
    count(ModelStore, "load", "model loads")
    count(draw, "model_views", "dataset encodings")
    count(draw, "place", "placements")
    count(viz_draw, "test_set_figures", "figures built")
    key = ModelSpec.key.fget

    def counting_key(spec):
        calls["spec hashes"] += 1
        return key(spec)
    monkeypatch.setattr(ModelSpec, "key", property(counting_key))
    return calls


def test_a_second_stroke_computes_only_what_the_drawing_changes(page, lesson_store,
                                                                 isolated_home, counted):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()                                       # the first stroke: models loaded, views kept
    no_exception(at)
    assert counted["dataset encodings"] == 1 and counted["figures built"] == 1
    models = len([m for m in ModelStore(isolated_home).list() if m.ok])
    assert models > PIN_LOOKS

    counted.clear()
    at.session_state["aedemo_drawing"] = a_drawing().roll(3, dims=3)     # the next stroke
    at.run()
    no_exception(at)
    assert "your drawing" in at.get("plotly_chart")[0].proto.spec         # it was placed
    assert counted["placements"] == 1
    for nothing in ("model files read", "model loads", "dataset encodings", "figures built",
                    "showcase.json reads", "spec hashes"):
        assert counted[nothing] == 0, (nothing, dict(counted))
    # the pins' stamp looked at a few times a run, not once per model and page section
    assert counted["pin looks"] <= PIN_LOOKS, dict(counted)


def test_the_zoos_ids_are_hashed_once_per_list_of_specs(quiet_service, counted):
    svc = quiet_service
    keys = svc.zoo_keys
    assert keys == {spec.key for spec in svc.zoo_specs} and keys
    counted.clear()
    assert svc.zoo_keys is keys and counted["spec hashes"] == 0
    svc.zoo_specs = svc.zoo_specs[:1]             # a new list: worked out again
    assert svc.zoo_keys == {svc.zoo_specs[0].key}


def test_a_pages_thread_runs_its_small_forward_passes_on_one_torch_thread(quiet_env,
                                                                          monkeypatch):
    """The web process's sessions each run on a thread of their own: a drawing's forward pass
    there uses one PyTorch thread, not one per core waiting for a busy second core."""
    import threading

    import torch

    from aedemo.service import Service

    # the tests run on one thread (conftest's OMP_NUM_THREADS); a server starts with a core each
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    service = Service()
    try:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert seen == [1]
    finally:
        service.shutdown()
        torch.set_num_threads(before)        # the other tests' training keeps its threads
