"""The models as the browser runs them: the JavaScript a component needs for that (the
interpreter, the MNIST framing, then its own module, fetched once from its own URL), the URLs
of the stored models that export, and the server's answer at those URLs (app.py routes
``/aedemo/net/...`` and ``/aedemo/js/...`` here).

A model's file is exported once per version of it and kept in the Service's memo; its URL names
that version, so the browser caches it for good and a retrained model gets a new URL.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from aedemo import export, roles
from aedemo.store import StoredModel, StoreError, is_model_id
from aedemo.ui.session import service

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# the two files every component that runs a model needs, in this order: the framing calls
# nothing of the interpreter's, but a module may call both
SHARED_ASSETS = ("interpreter.js", "framing.js")
# A URL names one version of one model's file: the browser may keep it for a year unasked.
IMMUTABLE = "public, max-age=31536000, immutable"


@functools.cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text()


def component_js(*asset_names: str) -> str:
    """One JavaScript module: the interpreter, the framing, then the given modules of
    ``aedemo/assets/`` (the last one's default export is the component's)."""
    return "\n;\n".join(_asset(name) for name in (*SHARED_ASSETS, *asset_names))


# The components whose module the browser fetches by URL (app.py routes SCRIPT_ROUTE here).
COMPONENT_MODULES = ("drawing_pad.js", "latent_hover.js")


@functools.cache
def component_script(module: str) -> tuple[str, str]:
    """(the URL of ``module``'s bundle, the bundle): its URL names a hash of its text, so the
    browser keeps it for good and a changed file gets a new URL."""
    text = component_js(module)
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{roles.SCRIPT_PATH}/{version}/{module}", text


def component_loader(module: str) -> str:
    """The few lines a Components v2 component sends with every update (``js=``) in place of
    its module: Streamlit sends a component's inline script whole in every delta that draws
    it, which for the pad's 46 kB was most of what a stroke sent each student. The module is
    fetched once from its URL (the browser's cache keeps it; two components share one fetch)
    and its default export gets each update as the inline module would have."""
    url, _ = component_script(module)
    return f"""const SCRIPT = new URL({json.dumps(url)}, globalThis.location.href).href;
export default function (component) {{
  const scripts = (globalThis.__aedemoScripts ??= new Map());
  if (!scripts.has(SCRIPT)) scripts.set(SCRIPT, import(SCRIPT));
  let cleanup = null;
  let gone = false;
  scripts.get(SCRIPT).then((module) => {{ if (!gone) cleanup = module.default(component); }});
  return () => {{
    gone = true;
    if (typeof cleanup === "function") cleanup();
  }};
}}
"""


def script_file(request: Request) -> Response:
    """The route's answer (``/aedemo/js/{version}/{name}``): a component's module with a
    year's cache, or 404 for any other name or an old version."""
    name, version = request.path_params["name"], request.path_params["version"]
    if name not in COMPONENT_MODULES:
        return Response("No such script.", status_code=404, media_type="text/plain")
    url, text = component_script(name)
    if url != f"{roles.SCRIPT_PATH}/{version}/{name}":
        return Response("No such script.", status_code=404, media_type="text/plain")
    return Response(text, media_type="text/javascript", headers={"Cache-Control": IMMUTABLE})


def browser_nets(stored_models: list[StoredModel]) -> list[dict[str, str]]:
    """``{"id", "url"}`` for each of ``stored_models`` that runs in the browser, in order."""
    found = ((m.id, export.net_url(m)) for m in stored_models)
    return [{"id": model_id, "url": url} for model_id, url in found if url is not None]


def _export(stored: StoredModel) -> bytes:
    svc = service()
    if svc.data is None or svc.data.kind != "image":        # still loading: no probe digits
        return export.stored_bytes(svc.load_model(stored.id), None, stored.id,
                                   stored.spec.dataset)
    return svc.derived(export.stored_bytes, stored, stored.id, stored.spec.dataset)


def net_bytes(model_id: str, version: str) -> bytes | None:
    """The exported file of model ``model_id`` at ``version``; None when there is no such
    model, that version is not its current one, or it does not run in the browser."""
    if not is_model_id(model_id):
        return None
    try:
        return export.exported_for(service().store.get(model_id), version, _export)
    except StoreError:            # deleted or broken since it was listed: as if never there
        return None


async def net_file(request: Request) -> Response:
    """The route's answer (``/aedemo/net/{model_id}/{version}.safetensors``): the file with a
    year's cache, or 404. Exporting loads and traces a model (tens of milliseconds): off the
    server's event loop."""
    params = request.path_params
    payload = await asyncio.to_thread(net_bytes, params["model_id"], params["version"])
    if payload is None:
        return Response("No such model file.", status_code=404, media_type="text/plain")
    return Response(payload, media_type="application/octet-stream",
                    headers={"Cache-Control": IMMUTABLE})
