"""The widget states a browser sends, checked before Streamlit reads them.

Streamlit parses a Components v2 component's JSON state as a script run begins, before any of
the app's code runs, to see which widgets changed. A state that is not JSON, or nests deeper
than Python's parser goes (``[[[[...]]]]`` 200,000 deep is 400 kB), failed there, and the
sender saw the error's type in place of the page. ``WidgetStateGuard`` reads each message a
browser sends and puts UNREADABLE in place of such a state, so that the widget's own code
refuses it with a plain sentence (``aedemo.ui.drawing_pad``).

The message's size is bounded by Streamlit itself (``server.maxWidgetStateSize``); the guard
does not read one over it, which Streamlit refuses unread.
"""

from __future__ import annotations

import gc
import json
from typing import Any

UNREADABLE_KEY = "unreadable"
UNREADABLE = json.dumps({UNREADABLE_KEY: True})          # a component's state put in its place
UNREADABLE_TRIGGERS = "[]"                               # its events' in theirs: none
JSON_FIELDS = {"json_value": UNREADABLE, "json_trigger_value": UNREADABLE_TRIGGERS}


def readable(text: str) -> bool:
    """Whether Python's JSON parser reads ``text`` (it raises RecursionError when it nests
    deeper than the interpreter's recursion limit).

    The garbage collector is paused meanwhile: this runs on the server's event loop, and a
    message of 1 MB of empty lists, 320,000 new objects, set it off again and again (1.2 s
    there, 0.06 s paused), while every tab's traffic waited."""
    paused = gc.isenabled()
    gc.disable()
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    finally:
        if paused:
            gc.enable()
    return True


class WidgetStateGuard:
    """ASGI middleware in front of Streamlit's websocket: each BackMsg (``back_msg``, Streamlit's
    protobuf class, passed in by app.py so that this package does not import Streamlit) of at
    most ``max_bytes`` is parsed, and its JSON widget states that Python cannot parse are
    replaced (JSON_FIELDS) before Streamlit sees them."""

    def __init__(self, app, back_msg: Any, max_bytes: int):
        self.app = app
        self.back_msg = back_msg
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def checked_receive():
            message = await receive()
            data = message.get("bytes") if message["type"] == "websocket.receive" else None
            if data and len(data) <= self.max_bytes:
                message = {**message, "bytes": self.checked(data)}
            return message

        await self.app(scope, checked_receive, send)

    def checked(self, data: bytes) -> bytes:
        """``data`` as it came, or with its unreadable JSON states replaced."""
        msg = self.back_msg()
        try:
            msg.ParseFromString(data)
        except Exception:  # not a BackMsg: Streamlit closes the connection itself
            return data
        if msg.WhichOneof("type") != "rerun_script":
            return data
        replaced = False
        for state in msg.rerun_script.widget_states.widgets:
            field = state.WhichOneof("value")
            if field in JSON_FIELDS and not readable(getattr(state, field)):
                setattr(state, field, JSON_FIELDS[field])
                replaced = True
        return msg.SerializeToString() if replaced else data
