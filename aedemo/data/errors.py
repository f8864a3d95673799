"""The one error every loader raises for data that cannot be used."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset or an uploaded file that cannot be used; the message is meant for the user."""
