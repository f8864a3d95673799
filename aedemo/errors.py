"""Errors that two audiences read: a plain sentence for anyone (a student sees it on the page),
and the detail that only the teacher and the server's log may see: the store's folder, the
queue's address, the operating system's own words. The README promises students never see
where the server keeps its files or how to reach its Redis.

No Streamlit here: ``aedemo.ui.for_viewer`` decides, in one place, who sees the detail.
"""

from __future__ import annotations


class Explained(RuntimeError):
    """``str(err)`` is the plain sentence; ``detail`` (or None) is for the teacher and the log.
    Made from another Explained (``JobError(err)``), it keeps that one's detail."""

    def __init__(self, message: object, detail: str | None = None):
        super().__init__(str(message))
        self.detail = detail if detail is not None else getattr(message, "detail", None)

    def in_full(self) -> str:
        """The sentence and its detail, for the log and the teacher."""
        return f"{self} ({self.detail})" if self.detail else str(self)
