"""A CSV of series, as a student's spreadsheet exports it: one series per row or per column,
the separator, the decimal mark and a header row detected, every limit checked as the file is
read, so a hostile file is refused before it is parsed in full."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass

import numpy as np
import torch

from aedemo.data.errors import DataError

CSV_MAX_BYTES = 5_000_000
CSV_MAX_ROWS = 20_000
CSV_MIN_LENGTH = 8
# An LSTM reads a series one value per step: 2048 steps is 16 times the generated series' 128,
# and already slow to train on.
CSV_MAX_LENGTH = 2048
# A trillion: beyond any reading in ordinary units, and small enough that when the series are
# standardised the squared deviations summed over a whole file (CSV_MAX_BYTES holds at most
# 2.5 million values) stay far inside float32's 3.4e38, even where the sum is kept in float32.
# 1e300 is a finite float64 but inf as float32, and the scores came out nan.
CSV_MAX_MAGNITUDE = 1e12

CSV_DELIMITERS = {",": "','", ";": "';'", "\t": "tabs"}
ORIENTATIONS = ("rows", "columns")      # one series per row, or one per column
_SNIFF_LINES = 20               # the first lines: the separator and decimal mark are read there


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV of series is laid out: what separates its values, the decimal mark, whether
    its first line names the series, and whether each series is a row or a column (``why``
    says, in a few words, what the orientation was read from)."""

    delimiter: str = ","
    decimal: str = "."
    header: bool = False
    orientation: str = "rows"
    why: str = ""
    blank_corner: bool = False   # the header's first cell is empty: pandas' index column

    @property
    def index(self) -> bool:
        """In columns, a header with an empty first cell sits over an index (0, 1, 2 ... as
        pandas writes it), not a series: that column is skipped."""
        return self.header and self.blank_corner and self.orientation == "columns"

    def turned(self, orientation: str) -> CsvLayout:
        """The same file read with the other orientation, as the student chose."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
        if orientation == self.orientation:
            return self
        return dataclasses.replace(self, orientation=orientation, why="as chosen")

    def describe(self, n_series: int) -> str:
        """'Read 3 series in columns, separated by ';', decimal commas, header row skipped'."""
        parts = [f"Read {n_series:,} series in {self.orientation}",
                 f"separated by {CSV_DELIMITERS[self.delimiter]}",
                 "decimal commas" if self.decimal == "," else "decimal points"]
        if self.header:
            parts.append("header row skipped")
        if self.index:
            parts.append("index column skipped")
        return ", ".join(parts)


@dataclass(frozen=True)
class SeriesTable:
    """The series of a CSV (N, T, 1), how the file was read, and where each series was."""

    x: torch.Tensor
    layout: CsvLayout
    labels: tuple[str, ...]           # "row 3" or "column 2": where each series is in the file
    names: tuple[str, ...] = ()       # the header's name of each series (columns only)

    def describe(self) -> str:
        return self.layout.describe(len(self.x))


def _decode(raw: bytes, max_bytes: int) -> str:
    if len(raw) == 0:
        raise DataError("The file is empty.")
    if len(raw) > max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is "
                        f"{max_bytes / 1e6:.0f} MB.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("The file is not a text CSV (it is not UTF-8).") from None


def _too_wide(number: int, limit: int, max_length: int, max_rows: int) -> DataError:
    if limit == max_length:
        return DataError(f"Row {number} has more than {max_length} values; each series may "
                         f"have at most {max_length} values.")
    return DataError(f"Row {number} has more than {limit} values; a row may hold at most "
                     f"{max_length} values of one series, or {max_rows} series side by side.")


def _split(line: str, delimiter: str, number: int) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error as err:                           # a cell of over 128 kB, say
        raise DataError(f"Line {number} cannot be read as CSV ({err}).") from None


def _is_number(cell: str, decimal: str) -> bool:
    try:
        float(cell.replace(",", ".") if decimal == "," else cell)
    except ValueError:
        return False
    return True


def _sniff(text: str, max_rows: int, max_length: int) -> CsvLayout:
    """Read the layout from the file's first lines and its number of lines. The separator is
    ';' or a tab when one appears (a spreadsheet set to decimal commas writes ';'), else ','.
    The first line is a header when none of its cells is a number. The series are columns when
    a header names them, when a line holds one value, or when the lines are too short to be
    series but there are enough of them; otherwise rows, as before any of this was read."""
    widest = max(max_rows, max_length)   # a line's values: steps in rows, series in columns
    sample: list[tuple[int, str]] = []
    lines = 0
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        lines += 1
        if len(sample) < _SNIFF_LINES:
            sample.append((number, line))
    if not sample:
        raise DataError("The file has no rows of numbers.")
    joined = "".join(line for _, line in sample)
    delimiter = ";" if ";" in joined else "\t" if "\t" in joined else ","
    first: list[str] = []
    for number, line in sample:             # refused before the CSV reader splits it
        if line.count(delimiter) >= widest:
            raise _too_wide(number, widest, max_length, max_rows)
        first = first or _split(line, delimiter, number)
    decimal = "," if delimiter != "," and "," in joined else "."
    filled = [c for c in first if c.strip()]
    header = bool(filled) and not any(_is_number(c, decimal) for c in filled)
    data_lines = lines - header
    width = len(_split(sample[1][1], delimiter, sample[1][0])) if header and lines > 1 else (
        len(first))
    if data_lines <= 1:
        orientation, why = "rows", "one line of values"
    elif header:
        orientation, why = "columns", "the first row names them"
    elif width == 1:
        orientation, why = "columns", "one value a row"
    elif width < CSV_MIN_LENGTH:
        orientation, why = "columns", f"rows of {width} values are too short to be series"
    else:
        orientation, why = "rows", "the default"
    return CsvLayout(delimiter=delimiter, decimal=decimal, header=header,
                     orientation=orientation, why=why,
                     blank_corner=header and not first[0].strip())


def sniff_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                     max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH) -> CsvLayout:
    """How ``raw`` is laid out (see ``_sniff``), reading only its first lines' cells; DataError
    for a file that cannot be a CSV of series (empty, too large, not UTF-8, a line too long)."""
    return _sniff(_decode(raw, max_bytes), max_rows, max_length)


def read_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                    max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH,
                    max_values: int | None = None, orientation: str | None = None
                    ) -> SeriesTable:
    """A CSV of series -> a SeriesTable of (N, T, 1) float32: its separator, decimal mark and
    header detected, its orientation detected unless ``orientation`` ("rows" or "columns")
    is given. All series have the same length; numbers only. Raises DataError naming the first
    bad row. Each limit (``max_rows`` series of at most ``max_length`` values, ``max_values``
    in all) is checked as the file is read, so a file over one is refused before the rest of
    it is parsed, and a line with too many values before it is split into cells."""
    text = _decode(raw, max_bytes)
    layout = _sniff(text, max_rows, max_length)
    if orientation is not None:
        layout = layout.turned(orientation)
    columns = layout.orientation == "columns"
    skip = int(layout.index)                  # an index column is read past, never parsed
    per_line = max_rows + skip if columns else max_length
    rows: list[np.ndarray] = []               # float32, one per line of values
    numbers: list[int] = []                   # each one's row in the file
    names: list[str] = []
    header_to_skip = layout.header
    reader = csv.reader(_short_lines(text, layout.delimiter, per_line, columns, max_rows),
                        delimiter=layout.delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue                                # blank lines are harmless
            if header_to_skip:
                names, header_to_skip = [c.strip() for c in cells[skip:]], False
                continue
            if len(rows) >= (max_length if columns else max_rows):
                raise DataError(
                    f"More than {max_length} rows; in columns each row is one time step, and a "
                    f"series may have at most {max_length} values." if columns else
                    f"More than {max_rows} rows; the limit is {max_rows}.")
            if max_values is not None and (len(rows) + 1) * (len(cells) - skip) > max_values:
                raise DataError(f"The file holds more than {max_values:,} values; the limit is "
                                f"{max_values:,} (fewer rows, or shorter ones).")
            values = [_csv_number(cell, number, col, layout.decimal)
                      for col, cell in enumerate(cells, start=1) if col > skip]
            if rows and len(values) != len(rows[0]):
                raise DataError(
                    f"Row {number} has {_values(len(values))} but row {numbers[0]} has "
                    f"{len(rows[0])}; in columns every row must give one value to each series."
                    if columns else
                    f"Row {number} has {_values(len(values))} but row {numbers[0]} has "
                    f"{len(rows[0])}; every series must have the same length.")
            rows.append(np.array(values, dtype=np.float32))
            numbers.append(number)
    except csv.Error as err:                            # a cell of over 128 kB, say
        raise DataError(f"Line {reader.line_num} cannot be read as CSV ({err}).") from None
    if not rows:
        raise DataError("The file has no rows of numbers.")
    table = np.stack(rows)                              # (lines, values a line)
    if columns:
        if len(rows) < CSV_MIN_LENGTH:
            raise DataError(f"Each series needs at least {CSV_MIN_LENGTH} values; the columns "
                            f"have {len(rows)}.")
        table = table.T
        labels = tuple(f"column {c + 1 + skip}" for c in range(len(table)))
        names = (names + [""] * len(table))[:len(table)] if layout.header else []
    else:
        if len(rows[0]) < CSV_MIN_LENGTH:
            raise DataError(f"Each series needs at least {CSV_MIN_LENGTH} values; row "
                            f"{numbers[0]} has {len(rows[0])}.")
        labels = tuple(f"row {n}" for n in numbers)
        names = []
    x = torch.from_numpy(np.ascontiguousarray(table)).unsqueeze(-1)
    return SeriesTable(x=x, layout=layout, labels=labels, names=tuple(names))


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def parse_series_csv(raw: bytes, *, max_bytes: int = CSV_MAX_BYTES,
                     max_rows: int = CSV_MAX_ROWS, max_length: int = CSV_MAX_LENGTH,
                     max_values: int | None = None, orientation: str | None = None
                     ) -> torch.Tensor:
    """A CSV of series -> (N, T, 1) float32 (see ``read_series_csv``, which also says how it
    was read)."""
    return read_series_csv(raw, max_bytes=max_bytes, max_rows=max_rows, max_length=max_length,
                           max_values=max_values, orientation=orientation).x


def _short_lines(text: str, delimiter: str, max_values: int, columns: bool, max_rows: int):
    """The lines of ``text``, refusing one with more than ``max_values`` values before the CSV
    reader splits it into cells (a 5 MB line is 2.5 million of them). Counting separators may
    overcount a quoted cell's, but a cell holding a separator is not a number anyway."""
    for number, line in enumerate(io.StringIO(text), start=1):
        if line.count(delimiter) >= max_values:
            if columns:
                raise DataError(f"Row {number} has more than {max_rows} values; in columns each "
                                f"value belongs to one series, and the limit is {max_rows} "
                                f"series.")
            raise DataError(f"Row {number} has more than {max_values} values; each series may "
                            f"have at most {max_values} values.")
        yield line


def _csv_number(cell: str, row: int, col: int, decimal: str = ".") -> float:
    """One CSV cell as a number within CSV_MAX_MAGNITUDE, or a DataError naming it."""
    try:
        value = float(cell.replace(",", ".") if decimal == "," else cell)
    except ValueError:
        raise DataError(f"Row {row}, column {col}: {cell.strip()[:20]!r} is not a "
                        f"number.") from None
    if not math.isfinite(value):
        raise DataError(f"Row {row}, column {col}: {cell.strip()!r} is not a finite number.")
    if abs(value) > CSV_MAX_MAGNITUDE:
        raise DataError(f"Row {row}, column {col}: {value:g} is too large; values must be "
                        f"ordinary numbers between -{CSV_MAX_MAGNITUDE:g} and "
                        f"{CSV_MAX_MAGNITUDE:g} (write the series in a larger unit).")
    return value
