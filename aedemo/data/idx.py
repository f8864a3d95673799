"""IDX files, LeCun's MNIST format, read with their sizes checked before their data."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from aedemo.data.errors import DataError

_IDX_TYPES = {0x08: np.uint8}
# 255,000 images of 28 x 28 bytes, over three times MNIST's 70,000; as float32 in memory they
# take 0.8 GB. A header may claim anything: 2**31 images would be 1.7 TB.
IDX_MAX_BYTES = 200_000_000


def read_idx(path: Path, *, max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """Read an IDX file, gzipped or not: magic (0, 0, type, ndim), ndim big-endian sizes, data.
    The sizes are checked against ``max_bytes`` before the data is read, and only as many bytes
    as they claim (and one more) are read, so neither a header claiming 2**31 images nor a
    small .gz that unpacks into gigabytes takes the memory it asks for."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise DataError(f"{path.name}: not an IDX file of unsigned bytes")
            ndim = magic[3]
            sizes = f.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise DataError(f"{path.name}: header is truncated")
            shape = struct.unpack(f">{ndim}I", sizes)
            expected = math.prod(shape)
            if expected > max_bytes:
                raise DataError(f"{path.name}: its header claims {' x '.join(map(str, shape))} "
                                f"values ({expected / 1e6:,.0f} MB); the limit is "
                                f"{max_bytes / 1e6:,.0f} MB")
            payload = f.read(expected + 1)             # one byte more shows a file too long
    except (OSError, EOFError, zlib.error) as err:      # missing, unreadable, a damaged .gz
        raise DataError(f"{path.name}: cannot read ({err})") from None
    if len(payload) != expected:
        how = "cut short" if len(payload) < expected else "longer than its header says"
        raise DataError(f"{path.name}: the file is {how}: its header claims shape {shape}, "
                        f"{expected:,} bytes of data")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def find_idx(folder: Path, prefix: str, kind: str) -> Path | None:
    for suffix in ("", ".gz"):
        for sep in ("-", "."):
            p = folder / f"{prefix}-{kind}{sep}idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            if p.exists():
                return p
    return None

