"""Lead files read into rows: CSV (UTF-8 with or without BOM, or Latin-1 / Windows-1252 when
asked; comma, semicolon, tab or pipe) and XLSX (the first sheet).

Problems with the whole file (not UTF-8, no header, no phone column, not a workbook) raise
:class:`LeadFileError` before any row is read; a CSV that breaks mid-way raises it from the
iterator after the good rows before it were given. A field longer than
:data:`MAX_FIELD_CHARS` is read (up to :data:`CSV_FIELD_LIMIT`) so its row can be rejected
alone, with the rest of the file imported.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ssmas.campaigns.errors import InvalidInput

__all__ = [
    "CSV_FIELD_LIMIT",
    "ENCODINGS",
    "MAX_FIELD_CHARS",
    "LeadFile",
    "LeadFileError",
    "column_name",
    "open_lead_file",
]

MAX_FIELD_CHARS = 1_000
# Longer than this, a CSV field stops the import at its row (rows before it are kept).
CSV_FIELD_LIMIT = 32 * 1024 * 1024
ENCODINGS = ("utf-8", "latin-1", "cp1252")
PHONE_COLUMNS = ("phone", "telefono", "tel", "celular", "movil", "numero", "phone_number", "mobile")
_DELIMITERS = (",", ";", "\t", "|")

if csv.field_size_limit() < CSV_FIELD_LIMIT:
    csv.field_size_limit(CSV_FIELD_LIMIT)


class LeadFileError(InvalidInput):
    """The file cannot be read as a lead file (the message says why and what to do)."""

    code = "invalid_lead_file"


def column_name(header: str) -> str:
    """A header as a column name: trimmed, lower case, accents dropped, spaces as ``_``."""
    plain = unicodedata.normalize("NFKD", header.strip().lstrip("\ufeff"))
    folded = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return "_".join(folded.replace("-", " ").split())


@dataclass
class LeadFile:
    """A readable lead file: its column names, the phone column, an estimate of its data rows
    (for progress) and the rows as ``(row number, values by column)``; the header is row 1."""

    columns: list[str]
    phone_column: str
    estimated_rows: int
    rows: Iterator[tuple[int, dict[str, str]]]


def _decode(data: bytes, encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise LeadFileError(message=f"unknown encoding {encoding!r} (use {', '.join(ENCODINGS)})")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LeadFileError(message="the file is UTF-16; save it as UTF-8 CSV and import again")
    if encoding != "utf-8":
        return data.decode(encoding)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LeadFileError(
            message=f"line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}); if the file "
            "was saved as Latin-1 / Windows-1252 (Excel), import it with encoding 'latin-1'"
        ) from None


def _columns(raw: list[str]) -> tuple[list[str], str]:
    columns = [column_name(h) or f"column_{i + 1}" for i, h in enumerate(raw)]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise LeadFileError(message=f"the header repeats column(s): {', '.join(repeated)}")
    phone = next((c for c in PHONE_COLUMNS if c in columns), None)
    if phone is None:
        raise LeadFileError(
            message="no phone column in the header (name one of: " + ", ".join(PHONE_COLUMNS) + ")"
        )
    return columns, phone


def _csv_rows(
    reader: Iterator[list[str]], columns: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    width = len(columns)
    row_no = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise LeadFileError(message=f"row {row_no + 1}: malformed CSV ({exc})") from None
        row_no += 1
        if not any(v.strip() for v in values):
            continue
        row = dict(zip(columns, values, strict=False))
        if len(values) > width:
            row["__extra__"] = str(len(values) - width)
        yield row_no, row


def _read_csv(data: bytes, encoding: str) -> LeadFile:
    text = _decode(data, encoding)
    if "\x00" in text:
        raise LeadFileError(message="the file holds NUL bytes: it is not a text CSV")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise LeadFileError(message="the file is empty or its first line (the header) is blank")
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise LeadFileError(message=f"row 1: malformed CSV header ({exc})") from None
    columns, phone = _columns(header)
    return LeadFile(columns, phone, max(text.count("\n") - 1, 1), _csv_rows(reader, columns))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _read_xlsx(data: bytes) -> LeadFile:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LeadFileError(
            message=f"not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise LeadFileError(message="the workbook's first sheet is empty")
    columns, phone = _columns([_cell(h) for h in header])

    def generate() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for row_no, values in enumerate(rows, start=2):
                cells = [_cell(v) for v in values]
                if not any(c.strip() for c in cells):
                    continue
                row = dict(zip(columns, cells, strict=False))
                if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                    row["__extra__"] = str(len(cells) - len(columns))
                yield row_no, row
        finally:
            book.close()

    return LeadFile(columns, phone, max((sheet.max_row or 2) - 1, 1), generate())


def open_lead_file(filename: str, data: bytes, encoding: str = "utf-8") -> LeadFile:
    """The lead file in ``data``: XLSX by its name or its zip signature, CSV otherwise."""
    if not data.strip():
        raise LeadFileError(message="the file is empty")
    if filename.lower().endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    return _read_csv(data, encoding)
