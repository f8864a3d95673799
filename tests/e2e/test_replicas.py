"""Two app servers (replicas) on two ports, one queue in a real Redis, one training worker and
one shared store, as a department would run several classes: a model trained from one server
appears on the other without a restart, and a job queued on one is seen on both and can be
cancelled only by the student who asked for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from e2e_support import REPO, Server, no_exception, open_page, start_training

TRAIN_TIMEOUT_MS = 180_000


@pytest.fixture
def replicas(redis_server, tmp_path):
    redis_server.flush()
    home = tmp_path / "shared-store"
    # a class's servers: with a teacher's passphrase, so the two browsers are students
    env = {"AEDEMO_REDIS_URL": redis_server.url, "AEDEMO_ZOO": "0",
           "AEDEMO_TEACHER_PASSPHRASE": "a passphrase for the class"}
    worker = subprocess.Popen([sys.executable, "-m", "aedemo", "worker"], cwd=REPO,
                              env={**os.environ, **env, "AEDEMO_HOME": str(home),
                                   "AEDEMO_DATA_DIR": str(home / "data")})
    servers = [Server(home, env), Server(home, env)]
    yield servers
    for server in servers:
        server.stop()
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)


def sidebar_text(tab) -> str:
    return tab.locator('[data-testid="stSidebar"]').inner_text()



def test_two_servers_one_queue_one_worker_one_store(browser, replicas):
    a, b = replicas
    on_a, on_b = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                  for _ in range(2))
    open_page(on_a, a, "train")
    open_page(on_b, b, "train")
    # a short job from server A: the worker trains it and B lists the model, no restart
    start_training(on_a, "dense", epochs_key="Home")                 # the fewest epochs
    on_a.get_by_text("Done: stored as model").wait_for(timeout=TRAIN_TIMEOUT_MS)
    model_id = on_a.get_by_text("Done: stored as model").inner_text().split()[-1].rstrip(".")
    on_b.reload()
    open_page(on_b, b, "train")
    on_b.get_by_text(model_id).first.wait_for(state="attached", timeout=30_000)   # its table
    # a long job queued from A: B's sidebar shows it, not as its own, and only A may cancel
    start_training(on_a, "conv")
    on_a.get_by_role("button", name="Cancel").wait_for(timeout=TRAIN_TIMEOUT_MS)
    on_b.locator('[data-testid="stSidebar"]').get_by_text("▶ conv").wait_for(timeout=30_000)
    sidebar = '[data-testid="stSidebar"]'
    on_a.locator(sidebar).get_by_text("(yours)").wait_for(timeout=30_000)
    assert "(yours)" not in sidebar_text(on_b), sidebar_text(on_b)
    assert on_b.get_by_role("button", name="Cancel").count() == 0
    on_a.get_by_role("button", name="Cancel").click()
    on_a.get_by_text("Cancelled: nothing was stored.").wait_for(timeout=30_000)
    on_b.get_by_text("Training queue: empty").wait_for(timeout=30_000)
    no_exception(on_a)
    no_exception(on_b)
