"""aedemo's entry point: `streamlit run app.py`.

Streamlit reads this file in two ways. As the app's script (``__name__ == "__main__"``, every
rerun of every session) it routes with st.navigation to the pages in pages/ and draws the
sidebar they share. As the server's module (imported once by ``streamlit run``, which finds the
st.App at the bottom) it gives the server one start-up step, ``_start_up``.
"""

import streamlit as st

from aedemo import menu

if __name__ == "__main__":
    st.set_page_config(page_title="aedemo: autoencoders", page_icon=":material/compress:",
                       layout="wide")
    page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path)
                           for p in menu.PAGES])
    menu.navigation_ran.set()
    starting = st.empty()
    if not menu.app_loaded.is_set():
        # A fresh server spends a few seconds importing PyTorch and the models: meanwhile every
        # visitor gets the menu above, the page's title and a word on what is happening, and
        # waits there while one session imports what every page needs (menu.load_app).
        with starting.container():
            st.title(page.title)
            st.info("Starting: the server is loading PyTorch and the models. This page fills "
                    "in by itself in a few seconds.", icon=":material/hourglass_top:")
        menu.load_app()
        starting.empty()
    from aedemo import ui

    ui.sidebar()
    ui.run_page(page)
else:
    import asyncio
    import functools
    import sys
    from contextlib import asynccontextmanager

    from starlette.middleware import Middleware
    from starlette.routing import Route
    from streamlit import config

    from aedemo import guard, roles

    NAVIGATION_WAIT_S = 30
    LOADING_WAIT_S = 60        # a server stopped in its first seconds: its first run's imports

    @functools.cache
    def _passphrase_problem() -> str | None:
        return roles.passphrase_problem(roles.passphrase(st.secrets))

    def _open_to_lan() -> bool:
        return _passphrase_problem() is None

    # The classroom command serves the network: only with a teacher's passphrase, or any
    # student could do what the teacher does. Said at once, in the terminal, not in class, as
    # the server imports this module, before it starts: the sentence alone and a non-zero status
    # (raised from the start-up step, it came inside Streamlit's traceback of a failed start).
    # Streamlit's own welcome, which it prints before it imports the app, is off
    # (.streamlit/config.toml): the address is said below, once the app is ready to serve it.
    if not roles.is_loopback(config.get_option("server.address")) and _passphrase_problem():
        sys.exit(f"aedemo will not serve the network: {_passphrase_problem()}")

    # uvicorn is importing this module: its connection caps and header timeout go in before it
    # serves (aedemo.guard says what each bounds and why).
    guard.harden_server()
    guard.limit_repeated_log_lines()

    def _uploads_held(session_id: str) -> dict[str, int]:
        from streamlit.runtime import Runtime

        held = Runtime.instance().uploaded_file_mgr.file_storage.get(session_id, {})
        return {file_id: len(file.data) for file_id, file in dict(held).items()}

    @asynccontextmanager
    async def _start_up(app):
        """Before any browser is let in, run the app once in a session of its own (what
        Streamlit's script health check does) and wait until it has run st.navigation. Until a
        session has, Streamlit takes pages/ for a legacy multipage app: its menu lists the file
        names and it runs a page without this frame. The same run goes on to import PyTorch and
        start the service, so a server started before class loads its dataset and trains its
        zoo before the first student arrives. When the server stops, so do its training workers:
        each puts the job it was running back at the head of the queue."""
        from streamlit.runtime import Runtime

        first_run = asyncio.ensure_future(Runtime.instance().does_script_run_without_error())
        for _ in range(int(NAVIGATION_WAIT_S / 0.05)):
            if menu.navigation_ran.is_set() or first_run.done():
                break
            await asyncio.sleep(0.05)
        guard.limit_repeated_log_lines()         # the loggers made since the import
        print(roles.where_to_open(config.get_option("server.address"),
                                  config.get_option("server.port")), flush=True)
        yield
        first_run.cancel()
        # Stopped in its first seconds, the server lets the first run finish importing the app:
        # a module imported while the interpreter shuts down fails with a traceback.
        await asyncio.to_thread(menu.wait_for_loading, LOADING_WAIT_S)
        from aedemo import local_workers

        await asyncio.to_thread(local_workers.stop_all)

    # Other sites' requests are refused first; then the gate refuses other machines unless a
    # passphrase opens the app to the class, and gives each browser its student cookie
    # (aedemo.roles); then what browsers send is read before Streamlit does
    # (aedemo.widget_states), and each session's uploads are held to their budget (aedemo.guard).
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.runtime.runtime_util import get_max_widget_state_size_bytes

    from aedemo.widget_states import WidgetStateGuard

    async def _net_file(request):
        """A stored model's file for the browser's interpreter (aedemo.export), behind the same
        middleware as every page. Its module loads PyTorch: imported at the first request,
        not while the server starts."""
        from aedemo.ui import browser_models

        return await browser_models.net_file(request)

    async def _script_file(request):
        """A component's JavaScript module (aedemo.ui.browser_models), fetched once and cached:
        the components send only a loader with each update."""
        from aedemo.ui import browser_models

        return browser_models.script_file(request)

    app = st.App(__file__, lifespan=_start_up,
                 routes=[Route(roles.NET_ROUTE, _net_file),
                         Route(roles.SCRIPT_ROUTE, _script_file)],
                 middleware=[Middleware(guard.OwnOriginOnly),
                             Middleware(roles.ClassroomGate, open_to_lan=_open_to_lan),
                             Middleware(WidgetStateGuard, back_msg=BackMsg,
                                        max_bytes=get_max_widget_state_size_bytes()),
                             Middleware(guard.UploadBudget, held=_uploads_held)])
