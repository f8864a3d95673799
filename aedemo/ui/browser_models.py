"""The models as the browser runs them: the JavaScript a component needs for that (the
interpreter, the MNIST framing, then its own module), the URLs of the stored models that export,
and the server's answer at those URLs (app.py routes ``/aedemo/net/...`` here).

A model's file is exported once per version of it and kept in the Service's memo; its URL names
that version, so the browser caches it for good and a retrained model gets a new URL.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from aedemo import export
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
    """One JavaScript string for a Components v2 component (``st.components.v2.component(...,
    js=...)``): the interpreter, the framing, then the given modules of ``aedemo/assets/``."""
    return "\n;\n".join(_asset(name) for name in (*SHARED_ASSETS, *asset_names))


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
