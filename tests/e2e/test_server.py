"""The server as a class meets it, started with the README's own command: what it costs while
a tab sits open, and what its first visitors see."""

from __future__ import annotations

import time

import pytest

from e2e_support import Server, cpu_seconds, open_page

IDLE_SECONDS = 10
IDLE_CPU_SHARE = 0.10          # of one core


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory):
    """Nothing to do: no zoo to train, so any CPU the server uses is its own overhead."""
    srv = Server(tmp_path_factory.mktemp("idle-home"), extra_env={"AEDEMO_ZOO": "0"})
    yield srv
    srv.stop()


def test_an_open_tab_costs_the_idle_server_almost_no_cpu(page, idle_server):
    # Streamlit's file watcher, on by default, walked the .venv/ inside the project and
    # overflowed inotify over and over: 100% of a core for as long as a tab was open
    open_page(page, idle_server)
    page.get_by_text("Dataset:").first.wait_for(timeout=60_000)    # start-up work is done
    page.wait_for_timeout(2000)
    pid = idle_server.proc.pid
    before, start = cpu_seconds(pid), time.monotonic()
    page.wait_for_timeout(IDLE_SECONDS * 1000)
    share = (cpu_seconds(pid) - before) / (time.monotonic() - start)
    assert share < IDLE_CPU_SHARE, f"the idle server used {share:.0%} of a core"
