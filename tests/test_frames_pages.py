"""The replay of how a model's latent map formed, on the real page scripts (AppTest): the Train
page's done panel and the Latent space page scrub through the frames stored with the model, and
say plainly when a model has none or its frames file is bad."""

from __future__ import annotations

import json

import pytest

from aedemo import ui
from aedemo.latent_frames import FrameRecorder, epochs_text, frame_sample, separation
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.ui.jobs import FOLLOWED, NO_FRAMES
from page_support import no_exception, values


@pytest.fixture
def framed(isolated_home, digits):
    """A dense k = 2 model on the digits, trained with its frames recorded as a worker
    records them, stored with them in this test's store: (spec, frames)."""
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=3))
    chosen = frame_sample(digits.y_test)
    recorder = FrameRecorder(digits.x_test[chosen], digits.y_test[chosen], chosen, every_s=0.0)
    ModelStore().save(spec, train_spec(spec, callbacks=(recorder,)), frames=recorder.frames())
    return spec, recorder.frames()


def replay_figure(at) -> dict:
    """The replay's chart: the one whose title names the test digits' codes after an epoch."""
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [f for f in figures if "test digits' codes after" in f["layout"]["title"]["text"]]
    assert len(found) == 1, [f["layout"]["title"]["text"] for f in figures]
    return found[0]


def shown_points(fig: dict) -> int:
    return sum(len(values(t["x"])) for t in fig["data"])


def check_scrubbing(at, frames, slider_key: str) -> None:
    slider = at.select_slider(key=slider_key)
    assert list(slider.options) == [f"epoch {epochs_text(a)}" for a in frames.at]
    fig = replay_figure(at)
    assert f"after {epochs_text(frames.at[-1])} epochs" in fig["layout"]["title"]["text"]
    last = separation(frames.points[-1], frames.labels)
    first = separation(frames.points[0], frames.labels)
    assert any(f"{last:.1f} times as far apart" in c.value for c in at.caption)
    slider.set_value(0).run()
    no_exception(at)
    fig = replay_figure(at)
    assert f"after {epochs_text(frames.at[0])} epochs" in fig["layout"]["title"]["text"]
    assert any(f"{first:.1f} times as far apart" in c.value for c in at.caption)


def test_the_done_panel_replays_how_the_map_formed(app, framed):
    """Through app.py's navigation: the done panel links to the pages that show the model."""
    spec, frames = framed
    at = app("pages/train.py")
    job = ui.service().jobs.submit(spec, "someone", None)        # answered by the stored model
    at.session_state[FOLLOWED] = {"train": [job.id]}
    at.run()
    no_exception(at)
    assert any("How its latent map formed" in m.value for m in at.markdown)
    check_scrubbing(at, frames, f"{ui.LATENT_MAP_KEY}-at")    # the first panel's map


def test_the_latent_space_page_replays_how_the_map_formed(page_app, framed):
    spec, frames = framed
    at = page_app("pages/latent_space.py")
    no_exception(at)
    assert any(h.value == "How this map formed while it trained" for h in at.header)
    check_scrubbing(at, frames, f"latent-replay-{spec.key}-at")
    assert shown_points(replay_figure(at)) == len(frames.labels)


def test_a_model_without_frames_or_with_a_bad_file_says_so_and_still_shows(page_app, framed,
                                                                           isolated_home):
    spec, _ = framed
    path = ModelStore().dir / f"{spec.key}.frames.safetensors"
    path.write_bytes(b"not frames")
    at = page_app("pages/latent_space.py")
    no_exception(at)
    assert any("replay of how this model's map formed is unavailable" in i.value
               for i in at.info)
    assert at.get("plotly_chart")                    # the map itself is there as ever
    path.unlink()
    at.run()
    no_exception(at)
    assert any(c.value == NO_FRAMES for c in at.caption)
    assert all(s.key != f"latent-replay-{spec.key}-at" for s in at.select_slider)
