"""Documents a team loads into the knowledge base, cut into passages that carry their source.

Markdown (``.md``) is cut at headings, PDF (``.pdf``, pypdf) per page, Word (``.docx``,
python-docx) at heading-styled paragraphs (tables read row by row), plain text (``.txt``) at
blank lines, and an FAQ CSV (``.csv``: ``question`` and ``answer`` columns, or ``pregunta`` /
``respuesta``; optional ``language`` and ``id``) one row per passage. Long sections are split
into chunks of about ``CHUNK_WORDS`` words on paragraph and sentence boundaries, each keeping
its section title, so an answer can say where it came from (file, section, page).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CHUNK_WORDS = 90
MAX_CHARS = 700
SUFFIXES = (".md", ".markdown", ".pdf", ".docx", ".csv", ".txt")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class KbError(ValueError):
    """A file the knowledge base cannot read; the message names the file and the reason."""


@dataclass(frozen=True)
class Passage:
    text: str
    title: str
    source: str  # file name as loaded
    locator: str = ""  # section, page or row
    language: str | None = None  # es / en, or None when unknown (served in either)
    questions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def citation(self) -> str:
        where = f", {self.locator}" if self.locator and self.locator != self.title else ""
        return f"{self.title} ({self.source}{where})" if self.title else f"{self.source}{where}"


def chunks(text: str, words: int = CHUNK_WORDS) -> list[str]:
    """Paragraphs packed up to ``words`` words; a longer paragraph is split between sentences."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(para.split())
        if not para:
            continue
        if len(para.split()) <= words:
            pieces.append(para)
        else:
            pieces.extend(s for s in _SENTENCE.split(para) if s.strip())
    out: list[str] = []
    current: list[str] = []
    count = 0
    for piece in pieces:
        n = len(piece.split())
        if current and count + n > words:
            out.append(" ".join(current))
            current, count = [], 0
        current.append(piece)
        count += n
    if current:
        out.append(" ".join(current))
    return [c if len(c) <= MAX_CHARS else c[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…" for c in out]


def _sections(source: str, sections: Iterable[tuple[str, str, str]]) -> list[Passage]:
    """``(title, locator, body)`` triples → passages (one per chunk). A passage too short to
    tell its language takes the document's."""
    from ssmas.assistant.respond import language_of

    cut = [(title, locator, piece) for title, locator, body in sections for piece in chunks(body)]
    document = language_of(" ".join(f"{t} {p}" for t, _, p in cut))
    return [
        Passage(piece, title, source, locator or title, language_of(f"{title} {piece}") or document)
        for title, locator, piece in cut
    ]


def parse_markdown(text: str, source: str) -> list[Passage]:
    def sections() -> Iterator[tuple[str, str, str]]:
        path: list[str] = []
        title, body = "", list[str]()
        for line in text.splitlines():
            match = _HEADING.match(line)
            if match:
                if "".join(body).strip():
                    yield title, title, "\n".join(body)
                level = len(match.group(1))
                path = [*path[: level - 1], match.group(2).strip()]
                title, body = " / ".join(path), []
            else:
                body.append(line)
        if "".join(body).strip():
            yield title, title, "\n".join(body)

    return _sections(source, sections())


def parse_text(text: str, source: str) -> list[Passage]:
    return _sections(source, [("", "", text)])


def parse_pdf(data: bytes, source: str) -> list[Passage]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise KbError(f"{source}: not a readable PDF ({exc})") from None
    title = Path(source).stem.replace("_", " ").replace("-", " ")
    return _sections(source, [(title, f"p. {i}", text) for i, text in enumerate(pages, 1)])


def parse_docx(data: bytes, source: str) -> list[Passage]:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise KbError(f"{source}: not a readable DOCX ({exc})") from None

    def sections() -> Iterator[tuple[str, str, str]]:
        title, body = "", list[str]()
        for para in document.paragraphs:
            style = (para.style.name if para.style is not None else "") or ""
            if style.lower().startswith(("heading", "título", "title")) and para.text.strip():
                if "".join(body).strip():
                    yield title, title, "\n\n".join(body)
                title, body = para.text.strip(), []
            elif para.text.strip():
                body.append(para.text.strip())
        if "".join(body).strip():
            yield title, title, "\n\n".join(body)
        for n, table in enumerate(document.tables, 1):
            rows = [" | ".join(c.text.strip() for c in row.cells) for row in table.rows]
            yield f"table {n}", f"table {n}", "\n\n".join(r for r in rows if r.strip(" |"))

    return _sections(source, sections())


_QUESTION = ("question", "pregunta", "q")
_ANSWER = ("answer", "respuesta", "a")


def parse_faq_csv(text: str, source: str) -> list[Passage]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    q_col = next((columns[c] for c in _QUESTION if c in columns), None)
    a_col = next((columns[c] for c in _ANSWER if c in columns), None)
    if q_col is None or a_col is None:
        raise KbError(
            f"{source}: an FAQ CSV needs 'question' and 'answer' columns (found {sorted(columns)})"
        )
    lang_col = columns.get("language") or columns.get("idioma")
    id_col = columns.get("id")
    out: list[Passage] = []
    for row_no, row in enumerate(reader, 2):
        question = (row.get(q_col) or "").strip()
        answer = " ".join((row.get(a_col) or "").split())
        if not question and not answer:
            continue
        if not question or not answer:
            raise KbError(f"{source}:{row_no}: a row needs both a question and an answer")
        language = (row.get(lang_col) or "").strip().lower() if lang_col else ""
        if language and language not in ("es", "en"):
            raise KbError(f"{source}:{row_no}: language must be es or en, not {language!r}")
        questions = tuple(q.strip() for q in question.split("|") if q.strip())
        locator = (row.get(id_col) or "").strip() if id_col else f"row {row_no}"
        from ssmas.assistant.respond import language_of

        out.append(
            Passage(
                answer[:MAX_CHARS],
                questions[0],
                source,
                locator,
                language or language_of(f"{question} {answer}"),
                questions,
            )
        )
    return out


def parse_file(path: Path) -> list[Passage]:
    """Passages of one file (its name is the source); ``KbError`` when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise KbError(
            f"{path.name}: unsupported file type {suffix or '(none)'} (use {', '.join(SUFFIXES)})"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KbError(f"{path}: cannot read ({exc.strerror})") from None
    source = path.name
    if suffix == ".pdf":
        passages = parse_pdf(data, source)
    elif suffix == ".docx":
        passages = parse_docx(data, source)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise KbError(f"{source}: not UTF-8 text") from None
        if suffix == ".csv":
            passages = parse_faq_csv(text, source)
        elif suffix in (".md", ".markdown"):
            passages = parse_markdown(text, source)
        else:
            passages = parse_text(text, source)
    if not passages:
        raise KbError(f"{source}: no text found")
    return passages
