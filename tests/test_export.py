"""aedemo.export: every image variant of the registry exports to op lists that, run by a
reference interpreter written here with PyTorch's functional layers, reproduce the model's own
reconstruction; the LSTM and a model with a layer the browser lacks are refused in plain words;
the server's route answers the file with its cache headers, and 404 for a stale version."""

from __future__ import annotations

import functools
import json
import shutil

import pytest
import torch
from safetensors.torch import load as load_safetensors
from torch import nn

from aedemo import export, roles
from aedemo.models import build, variant_names
from aedemo.models.base import AEConfig, ImageAutoencoder, TakeHome, reconstruction_loss
from aedemo.store import ModelStore
from support import run_apart

TOLERANCE = 1e-3          # the issue's: max abs pixel difference from PyTorch's float32


def reconstruct_from_file(payload: bytes, x: torch.Tensor) -> torch.Tensor:
    """x through the file's op lists and its own (rounded) weights, by export.run, the
    reference the browser's interpreter is a port of (tests/e2e/test_interpreter.py holds
    that port to PyTorch too)."""
    tensors = {name: t.float() for name, t in load_safetensors(payload).items()}
    return export.reconstruct(export.read_meta(payload)["graphs"], tensors, x)


IMAGE_VARIANTS = variant_names("image")


@pytest.fixture(scope="module")
def trained(digits):
    """One briefly trained model of each image variant (weights away from their start)."""
    from aedemo.train import TrainConfig, fit

    models = {}
    for name in IMAGE_VARIANTS:
        model = build(name, {}, seed=0)
        fit(model, digits.x_train[:512], None, TrainConfig(epochs=2, batch_size=64, lr=3e-3),
            device=torch.device("cpu"))
        models[name] = model.cpu().eval()
    return models


@pytest.mark.parametrize("variant", IMAGE_VARIANTS)
def test_every_image_variant_exports_and_reproduces_its_reconstruction(variant, trained,
                                                                       digits):
    model = trained[variant]
    x = digits.x_test[:100]
    expected = model.reconstruct(x)
    for how in ({"dtype": torch.float32}, {"dtype": torch.float16},
                {"probe": digits.x_train[:200]},
                {"probe": digits.x_train[:200], "calibration": digits.x_train[200:712]}):
        payload = export.to_bytes(model, "abcdef012345", "digits", **how)
        got = reconstruct_from_file(payload, x)
        assert got.shape == expected.shape
        assert (got - expected).abs().max().item() <= TOLERANCE, (variant, how)
    meta = export.read_meta(payload)
    assert meta["format"] == export.FORMAT
    assert meta["model"] == {"id": "abcdef012345", "variant": variant,
                             "latent_dim": model.latent_dim, "dataset": "digits"}
    assert {op["op"] for g in meta["graphs"].values() for op in g} <= set(export.OPS)
    assert meta["graphs"]["decode"][-1]["op"] == "sigmoid"
    # the encoder's code is the model's own code (the VAE's posterior mean)
    tensors = {name: t.float() for name, t in load_safetensors(payload).items()}
    code = export.run(meta["graphs"]["encode"], tensors, x)
    assert torch.allclose(code, model.encode(x), atol=0.05)


def test_the_reference_runner_can_fail(trained, digits):
    """The comparison above sees a wrong op: the dense decoder without its sigmoid is far off."""
    model = trained["dense"]
    payload = export.to_bytes(model, "abcdef012345", "digits")
    meta = export.read_meta(payload)
    tensors = {name: t.float() for name, t in load_safetensors(payload).items()}
    x = digits.x_test[:10]
    logits = export.run(meta["graphs"]["decode"][:-1], tensors,
                     export.run(meta["graphs"]["encode"], tensors, x))
    assert (logits - model.reconstruct(x)).abs().max().item() > 0.5


def test_float16_halves_the_bytes(trained):
    model = trained["dense"]
    half = len(export.to_bytes(model, "abcdef012345", "digits", dtype=torch.float16))
    full = len(export.to_bytes(model, "abcdef012345", "digits", dtype=torch.float32))
    assert half < 0.51 * full


def test_the_lstm_is_refused_plainly():
    with pytest.raises(export.Unsupported, match="series, not images"):
        export.graphs(build("lstm", {}).eval())


class GruNet(nn.Module):
    """An image network with a layer the interpreter lacks (a GRU over the image's rows)."""

    def __init__(self, latent_dim=4):
        super().__init__()
        self.rows = nn.GRU(28, latent_dim, batch_first=True)
        self.out = nn.Linear(latent_dim, 784)

    def encode(self, x):
        return self.rows(x.flatten(1, 2))[0][:, -1]

    def decode_logits(self, z):
        return self.out(z).view(-1, 1, 28, 28)


class BatchNormNet(GruNet):
    def __init__(self, latent_dim=4):
        super().__init__(latent_dim)
        self.norm = nn.BatchNorm1d(784)
        self.code = nn.Linear(784, latent_dim)

    def encode(self, x):
        return self.code(self.norm(x.flatten(1)))


class SkipNet(GruNet):
    """A residual connection: a graph, not a chain."""

    def __init__(self, latent_dim=4):
        super().__init__(latent_dim)
        self.code = nn.Linear(784, latent_dim)

    def encode(self, x):
        h = x.flatten(1)
        return self.code(h + torch.relu(h))


@pytest.mark.parametrize("network, words", [(GruNet, "GRU"), (BatchNormNet, "BatchNorm1d"),
                                            (SkipNet, "not one chain")])
def test_a_model_with_a_layer_the_browser_lacks_is_refused(network, words):
    class Future(ImageAutoencoder):
        name = "future"
        Config = AEConfig
        takehome = TakeHome(network, reconstruction_loss)

    with pytest.raises(export.Unsupported, match=words):
        export.graphs(Future(AEConfig(latent_dim=4)).eval())


# --- the URL and the route -------------------------------------------------------------------

@pytest.fixture
def store(lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    return ModelStore(isolated_home)


def _app_route() -> str:
    """The path app.py routes to browser_models.net_file, read from app.py itself."""
    from support import REPO

    assert "Route(roles.NET_ROUTE, _net_file)" in (REPO / "app.py").read_text(), \
        "app.py routes the exported models with Route(roles.NET_ROUTE, _net_file)"
    return roles.NET_ROUTE


NET_ROUTE = _app_route()


def test_every_lesson_image_model_has_a_url_and_the_lstm_none(store):
    for m in store.list():
        url = export.net_url(m)
        if m.spec.kind == "image":
            assert url == f"/aedemo/net/{m.id}/{export.version(m)}.safetensors"
        else:
            assert url is None


def test_the_version_changes_when_the_model_is_saved_again(store):
    m = next(m for m in store.list() if m.spec.kind == "image")
    model, _ = store.load(m.id)
    from aedemo.spec import Trained

    again = store.save(m.spec, Trained(model=model, history=[], metrics={}, seconds=0.0))
    assert again.id == m.id and export.net_url(again) != export.net_url(m)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status, headers, content


def asgi_get(app, url: str) -> Answer:
    """One GET through an ASGI app, in-process (starlette's TestClient needs a package the
    project does not have)."""
    from urllib.parse import unquote

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote(url), "raw_path": url.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"localhost")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8501)}
    run_apart(app(scope, receive, send))    # a browser test's loop may hold this thread
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers, body)


@pytest.fixture
def route_client(store, quiet_service, monkeypatch):
    """The route app.py serves, on a Starlette app of its own, over a service with a copy of the
    lesson's models (the server and its gate around it are tests/e2e's)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from aedemo.ui import browser_models

    monkeypatch.setattr(browser_models, "service", lambda: quiet_service)
    app = Starlette(routes=[Route(NET_ROUTE, browser_models.net_file)])
    return functools.partial(asgi_get, app), quiet_service.store, quiet_service


def test_the_route_answers_the_file_with_its_cache_headers(route_client, digits):
    client, store, svc = route_client
    m = next(m for m in store.list() if m.spec.variant == "conv")
    answer = client(export.net_url(m))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"] == "application/octet-stream"
    meta = export.read_meta(answer.content)
    assert meta["model"]["id"] == m.id and meta["model"]["variant"] == "conv"
    model, _ = store.load(m.id)
    x = digits.x_test[:20]
    assert (reconstruct_from_file(answer.content, x) - model.reconstruct(x)).abs().max() <= (
        TOLERANCE)
    # exported once per model version: the second answer comes from the memo
    entries = len(svc.memo)
    assert client(export.net_url(m)).content == answer.content
    assert len(svc.memo) == entries


def test_the_route_404s_for_a_stale_version_an_unknown_id_and_the_lstm(route_client):
    client, store, _ = route_client
    m = next(m for m in store.list() if m.spec.kind == "image")
    lstm = next(m for m in store.list() if m.spec.kind == "sequence")
    stale = f"/aedemo/net/{m.id}/{'0' * 16}.safetensors"
    for url in (stale, f"/aedemo/net/zzzzzzzzzzzz/{export.version(m)}.safetensors",
                f"/aedemo/net/..%2F..%2Fetc/{export.version(m)}.safetensors",
                f"/aedemo/net/{lstm.id}/{export.version(lstm)}.safetensors"):
        answer = client(url)
        assert answer.status_code == 404, url
        assert "immutable" not in answer.headers.get("cache-control", "")


def test_the_metadata_is_json_in_the_safetensors_header(trained, digits):
    payload = export.to_bytes(trained["vae"], "abcdef012345", "digits",
                              probe=digits.x_train[:200])
    length = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + length])
    meta = json.loads(header["__metadata__"]["aedemo"])
    assert meta["inputs"] == {"encode": [1, 28, 28], "decode": [16]}
    names = {op[key] for g in meta["graphs"].values() for op in g for key in ("weight", "bias")
             if op.get(key)}
    assert names == set(header) - {"__metadata__"}
    # float16 but for the biases and the two layers next to the code, within the margin
    near_code = {meta["graphs"]["encode"][-1]["weight"], meta["graphs"]["decode"][0]["weight"]}
    assert {n for n in names if header[n]["dtype"] == "F32"} == near_code | {
        n for n in names if n.endswith(".bias")}
    assert 0 < meta["rounding"]["max_pixel_difference"] <= export.MARGIN
    assert meta["rounding"]["probe_digits"] == 200


def test_a_model_that_float16_moves_too_far_gets_float32_layers(trained, digits, monkeypatch):
    """Over the margin, the smallest float16 weights go back to float32 first, down to none."""
    probe = digits.x_train[:200]
    half = load_safetensors(export.to_bytes(trained["dense"], "abcdef012345", "digits",
                                            probe=probe))
    monkeypatch.setattr(export, "MARGIN", 0.0)
    full = load_safetensors(export.to_bytes(trained["dense"], "abcdef012345", "digits",
                                            probe=probe))
    assert {t.dtype for t in full.values()} == {torch.float32}
    assert torch.float16 in {t.dtype for t in half.values()}
    none = load_safetensors(export.to_bytes(trained["dense"], "abcdef012345", "digits"))
    assert {t.dtype for t in none.values()} == {torch.float32}          # no probe: float32


def test_the_tensor_that_carries_the_most_error_per_byte_goes_back_first(trained, digits,
                                                                         monkeypatch):
    ops, _, tensors = export.graphs(trained["dense"])
    probe = digits.x_train[:200]
    stored, worst = export.precisions(ops, tensors, probe)
    halves = {n for n, t in stored.items() if t.dtype == torch.float16}
    monkeypatch.setattr(export, "MARGIN", worst * 0.999)     # just under the first choice
    again, better = export.precisions(ops, tensors, probe)
    back = {n for n in halves if again[n].dtype == torch.float32}
    assert len(back) == 1 and better <= worst * 0.999
    # by hand: each candidate alone back in float32, the error it takes off per byte
    exact = export.reconstruct(ops, tensors, probe)

    def gain(name):
        kept = {n: (tensors[n] if n == name or n not in halves else tensors[n].half().float())
                for n in tensors}
        return (worst - (export.reconstruct(ops, kept, probe) - exact).abs().max().item()
                ) / tensors[name].numel()

    assert back == {max(halves, key=gain)}


def test_compensated_rounding_moves_a_layer_less_than_rounding_each_weight(trained, digits):
    """GPTQ's promise, held to the plain alternative: on digits it was not fitted to, the
    first layer's outputs move less than with every weight rounded to its nearest float16,
    and no weight moves further than three times what nearest rounding may move the layer's
    largest."""
    weight = next(m for m in trained["dense"].modules() if isinstance(m, nn.Linear)).weight.detach()
    fitted, unseen = digits.x_train[:512].flatten(1), digits.x_test[:300].flatten(1)
    compensated = export._compensated_half(weight, fitted.double())
    assert compensated.dtype == torch.float16
    exact = unseen @ weight.T

    def moved(w16):
        return (unseen @ w16.float().T - exact).pow(2).mean().item()

    assert moved(compensated) < 0.8 * moved(weight.half())
    # no weight moved further than one and a half of float16's spacing at the layer's largest
    # weight (nearest rounding: half of one)
    spacing = 2.0 ** (torch.floor(torch.log2(weight.abs().max())) - 10).item()
    assert (compensated.float() - weight).abs().max().item() <= 1.5 * spacing


def test_calibration_keeps_more_weights_in_float16(trained, digits, monkeypatch):
    """With the rounding fitted to training digits, a tight margin needs fewer float32 bytes."""
    ops, _, tensors = export.graphs(trained["dense"])
    probe = digits.x_test[:200]
    _, plain = export.precisions(ops, tensors, probe)
    monkeypatch.setattr(export, "MARGIN", 0.6 * plain)
    nearest, _ = export.precisions(ops, tensors, probe)
    fitted, worst = export.precisions(ops, tensors, probe, digits.x_train[:512])

    def size(stored):
        return sum(t.numel() * t.element_size() for t in stored.values())

    assert worst <= 0.6 * plain
    assert size(fitted) < size(nearest)


def test_net_url_traces_each_setting_once(store):
    """A page's rerun asks net_url of every model: the tracing behind it runs once per variant
    and settings, however many reruns ask."""
    export._exportable.cache_clear()
    models = store.list()
    first = [export.net_url(m) for m in models]
    traced = export._exportable.cache_info().misses
    assert [export.net_url(m) for m in models] == first
    assert export._exportable.cache_info().misses == traced
    assert traced == len({(m.spec.variant, m.spec.hparams) for m in models})


def test_browser_nets_lists_the_models_that_export_in_order(store):
    from aedemo.ui.browser_models import browser_nets

    models = store.list()
    assert browser_nets(models) == [{"id": m.id, "url": export.net_url(m)} for m in models
                                    if m.spec.kind == "image"]


def test_component_js_is_the_interpreter_the_framing_then_the_modules(tmp_path, monkeypatch):
    from aedemo.ui import browser_models

    for name in ("interpreter.js", "framing.js", "pad.js", "map.js"):
        (tmp_path / name).write_text(f"// {name}\n")
    monkeypatch.setattr(browser_models, "ASSETS", tmp_path)
    browser_models._asset.cache_clear()
    try:
        js = browser_models.component_js("pad.js", "map.js")
    finally:
        browser_models._asset.cache_clear()
    names = [line[3:] for line in js.splitlines() if line.startswith("// ")]
    assert names == ["interpreter.js", "framing.js", "pad.js", "map.js"]


def test_a_components_module_is_served_once_at_its_url_and_sent_as_a_loader():
    """Streamlit sends a component's inline script in every delta that draws it: the pad's
    46 kB went to each student with every stroke. The component now sends a loader of a few
    hundred bytes; the module is served at a URL that names its text's hash."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from aedemo.roles import SCRIPT_ROUTE
    from aedemo.ui import browser_models

    app = Starlette(routes=[Route(SCRIPT_ROUTE, browser_models.script_file)])
    for module in browser_models.COMPONENT_MODULES:
        url, text = browser_models.component_script(module)
        loader = browser_models.component_loader(module)
        assert json.dumps(url) in loader and len(loader) < 1000 < len(text)
        assert text == browser_models.component_js(module)
        answer = asgi_get(app, url)
        assert answer.status_code == 200 and answer.content.decode() == text
        assert answer.headers["content-type"].startswith("text/javascript")
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        version = url.split("/")[-2]
        for wrong in (url.replace(version, "0" * 16), url.replace(module, "interpreter.js"),
                      url.replace(module, "..%2Froles.py")):
            assert asgi_get(app, wrong).status_code == 404, wrong
