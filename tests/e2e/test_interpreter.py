"""The browser's interpreter (aedemo/assets/interpreter.js) in Chromium, on the README's server:
every lesson image model, fetched from the server's own route, reconstructs 100 real MNIST test
digits within 1e-3 of PyTorch's float32 reconstruction, and decodes codes as the model's decoder
does; each URL is downloaded once per page; and the route is refused to a machine the gate does
not let in, as a page is."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from aedemo.data.idx import read_idx
from aedemo.data.images import to_float_images
from aedemo.store import ModelStore
from aedemo.ui.browser_models import ASSETS, browser_nets
from e2e_support import open_page
from support import SHARED_MNIST

TOLERANCE = 1e-3          # the issue's: max abs pixel difference from PyTorch's float32
DIGITS = 100

# Runs in the page: every net's reconstructions of the digits (and decodings of the codes),
# returned as base64 float32 bytes, with the URLs the page fetched.
RUN_ALL = """async ({nets, digits, codes}) => {
  const bytes = (floats) => {
    let text = "";
    const raw = new Uint8Array(floats.buffer);
    for (let i = 0; i < raw.length; i++) text += String.fromCharCode(raw[i]);
    return btoa(text);
  };
  const out = {};
  for (const {id, url} of nets) {
    // asked twice at once: one download (the test counts the requests)
    const [net] = await Promise.all([aedemoLoadNet(url), aedemoLoadNet(url)]);
    const k = net.model.latent_dim;
    const recons = new Float32Array(digits.length * 784);
    digits.forEach((d, i) => recons.set(aedemoReconstruct(net, Float32Array.from(d)), i * 784));
    const decoded = new Float32Array(codes.length * 784);
    codes.forEach((c, i) => decoded.set(aedemoDecode(net, c.slice(0, k)), i * 784));
    out[id] = {recons: bytes(recons), decoded: bytes(decoded), model: net.model};
  }
  return out;
}"""


def floats(text: str, rows: int) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.float32)
                            .reshape(rows, 784).copy())


@pytest.fixture(scope="module")
def real_digits() -> torch.Tensor:
    raw = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")[:DIGITS]
    return to_float_images(torch.from_numpy(raw.copy()))         # (100, 1, 28, 28) in [0, 1]


def test_every_lesson_image_model_runs_in_chromium_as_in_pytorch(server, page, real_digits):
    store = ModelStore(server.home)
    image_models = [m for m in store.list() if m.ok and m.spec.kind == "image"]
    nets = browser_nets(store.list())
    assert [n["id"] for n in nets] == [m.id for m in image_models]     # the LSTM has none
    assert len(nets) >= 5

    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/aedemo/net/" in r.url else None)
    open_page(page, server)
    page.add_script_tag(content=(ASSETS / "interpreter.js").read_text())
    codes = torch.linspace(-2, 2, 5 * 128).reshape(5, 128)
    got = page.evaluate(RUN_ALL, {"nets": nets,
                                  "digits": real_digits.flatten(1).tolist(),
                                  "codes": codes.tolist()})

    assert sorted(fetched) == sorted(server.url + n["url"] for n in nets)   # once each
    for m in image_models:
        model, _ = store.load(m.id)
        expected = model.reconstruct(real_digits).flatten(1)
        recons = floats(got[m.id]["recons"], DIGITS)
        worst = (recons - expected).abs().max().item()
        assert worst <= TOLERANCE, f"{m.spec.variant} k={model.latent_dim}: {worst:.2e}"
        with torch.no_grad():
            decoded = model.decode(codes[:, :model.latent_dim]).flatten(1)
        worst = (floats(got[m.id]["decoded"], len(codes)) - decoded).abs().max().item()
        assert worst <= TOLERANCE, f"{m.spec.variant} decode: {worst:.2e}"
        assert got[m.id]["model"] == {"id": m.id, "variant": m.spec.variant,
                                      "latent_dim": model.latent_dim, "dataset": "digits"}


def test_a_stale_url_fails_and_may_be_tried_again(server, page):
    open_page(page, server)
    page.add_script_tag(content=(ASSETS / "interpreter.js").read_text())
    url = next(n["url"] for n in browser_nets(ModelStore(server.home).list()))
    stale = url.rsplit("/", 1)[0] + "/0000000000000000.safetensors"
    said = page.evaluate("""async (url) => {
      try { await aedemoLoadNet(url); return "loaded"; } catch (e) { return e.message; }
    }""", stale)
    assert "404" in said
    assert page.evaluate("(url) => globalThis.__aedemoNets.has(url)", stale) is False


def _answer(url: str, headers: dict[str, str], header: str = "Cache-Control"
            ) -> tuple[int, str | None]:
    """(status, the header) of a GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.headers.get(header)
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get(header)


def test_the_route_is_refused_to_another_machine_as_a_page_is(server):
    """The server trusts a proxy on its own machine to say who is asking (uvicorn's
    X-Forwarded-For from 127.0.0.1): a request on behalf of another machine meets the gate,
    which this server (no passphrase) closes to it, for the models' files as for the pages."""
    url = server.url + browser_nets(ModelStore(server.home).list())[0]["url"]
    other = {"X-Forwarded-For": "192.168.1.23"}
    assert _answer(url, {}) == (200, "public, max-age=31536000, immutable")
    assert _answer(server.url + "/", other)[0] == _answer(url, other)[0] == 403
    # a file cached for everyone carries no student's cookie (a page does, to a new browser)
    assert _answer(url, {}, "Set-Cookie") == (200, None)
    assert "aedemo_student=" in _answer(server.url + "/", {}, "Set-Cookie")[1]
    # the components' modules alike (aedemo.ui.browser_models.component_script)
    from aedemo.ui.browser_models import component_script

    script = server.url + component_script("drawing_pad.js")[0]
    assert _answer(script, {}) == (200, "public, max-age=31536000, immutable")
    assert _answer(script, {}, "Set-Cookie") == (200, None)
    assert _answer(script, other)[0] == 403


def test_the_browser_keeps_a_file_across_page_loads(server, page):
    """Weights are sent once per model: after a reload (a fresh page, its Map gone) the same
    URL comes from the browser's cache, not the server, as its immutable header allows."""
    url = browser_nets(ModelStore(server.home).list())[0]["url"]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    answers: list[dict] = []
    cdp.on("Network.responseReceived",
           lambda e: answers.append(e["response"]) if "/aedemo/net/" in e["response"]["url"]
           else None)
    load = "async (url) => (await aedemoLoadNet(url)).model.id"
    for _ in range(2):
        open_page(page, server)
        page.add_script_tag(content=(ASSETS / "interpreter.js").read_text())
        assert page.evaluate(load, url) == url.split("/")[3]
    page.wait_for_timeout(200)
    # the first from the server; the second, if Chromium reports it at all, from its cache
    # (with no-store instead of the header, both came from the server: [False, False])
    from_cache = [a.get("fromDiskCache", False) or a.get("fromMemoryCache", False)
                  for a in answers]
    assert from_cache in ([False, True], [False]) and answers[0]["status"] == 200
