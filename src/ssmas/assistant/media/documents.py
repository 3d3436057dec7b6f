"""Text out of documents: PDF (pypdf), DOCX (python-docx) and plain text."""

from __future__ import annotations

import io


class DocumentUnreadable(ValueError):
    """The bytes are not a readable document of the claimed type."""


def pdf_text(data: bytes, *, max_pages: int = 50) -> str:
    """The text layer of a PDF's first ``max_pages`` pages (scanned pages give nothing)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:max_pages]]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(f"not a readable PDF: {exc}") from exc
    return " ".join(" ".join(pages).split())


def docx_text(data: bytes) -> str:
    """The paragraphs and table cells of a Word document."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, ValueError, KeyError) as exc:
        raise DocumentUnreadable(f"not a readable DOCX: {exc}") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DocumentUnreadable(f"not a readable DOCX: {type(exc).__name__}") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return " ".join(" ".join(parts).split())


def plain_text(data: bytes) -> str:
    return " ".join(data.decode("utf-8", "replace").split())
