"""The knowledge base: Markdown, PDF, DOCX and FAQ CSV become cited passages; BM25 ranks them;
loading replaces a source and keeps the rest; unreadable files are refused with a reason
(``kb load`` exits 2)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.assistant.commands import assistant_app
from ssmas.assistant.kb import (
    KbError,
    KnowledgeIndex,
    knowledge_index,
    load_files,
    loaded_sources,
    remove_source,
    shipped_passages,
)
from ssmas.assistant.kb.parse import chunks, parse_file
from ssmas.settings import Settings, use_settings

GUIDE = """# Payments

Intro line about payments.

## Tax forms

US publishers upload a W-9 form; everyone else uploads a W-8BEN form under Settings > Tax.

## Currencies

Payouts are made in EUR or USD; pick one under Settings > Payments.
"""


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF with ``lines`` in Helvetica (offsets computed, so readers accept it)."""
    text = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref))  # fmt: skip
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Cuenta y acceso", level=1)
    document.add_paragraph(
        "Para añadir un usuario a tu cuenta ve a Configuración > Usuarios y pulsa Invitar."
    )
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Rol", "Permisos"
    table.cell(1, 0).text, table.cell(1, 1).text = "Lector", "Solo informes"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_markdown_sections_keep_their_heading_path(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(GUIDE, encoding="utf-8")
    passages = parse_file(path)
    assert [p.title for p in passages] == [
        "Payments",
        "Payments / Tax forms",
        "Payments / Currencies",
    ]
    tax = passages[1]
    assert tax.language == "en" and "W-8BEN" in tax.text
    assert tax.citation == "Payments / Tax forms (guide.md)"


def test_pdf_pages_and_docx_headings_and_tables(tmp_path: Path) -> None:
    pdf = tmp_path / "ads_txt_guide.pdf"
    pdf.write_bytes(pdf_bytes(["Add the ads.txt lines at the root of your domain.",
                               "Validation runs every 24 hours."]))  # fmt: skip
    (page,) = parse_file(pdf)
    assert "ads.txt lines at the root" in page.text
    assert page.citation == "ads txt guide (ads_txt_guide.pdf, p. 1)"
    word = tmp_path / "accesos.docx"
    word.write_bytes(docx_bytes())
    section, table = parse_file(word)
    assert section.title == "Cuenta y acceso" and "Invitar" in section.text
    assert section.language == "es"
    assert "Lector | Solo informes" in table.text


def test_faq_csv_rows_with_question_variants(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "question,answer,language\n"
        '"How do I get paid early?|Can I be paid before net 60?","Early payout costs 2%.",en\n'
        '"¿Puedo cobrar antes?","El pago anticipado cuesta un 2 %.",es\n',
        encoding="utf-8",
    )
    early, antes = parse_file(path)
    assert early.questions == ("How do I get paid early?", "Can I be paid before net 60?")
    assert (early.language, antes.language) == ("en", "es")
    assert early.citation == "How do I get paid early? (faq.csv, row 2)"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.xlsx", b"x", "unsupported file type .xlsx"),
        ("broken.pdf", b"not a pdf at all", "not a readable PDF"),
        ("broken.docx", b"PK not a zip", "not a readable DOCX"),
        ("faq.csv", b"pregunta;respuesta\nx;y\n", "needs 'question' and 'answer' columns"),
        ("half.csv", b"question,answer\nOnly a question,\n", "half.csv:2: a row needs both"),
        ("latin1.md", "# Título\n\ncañón".encode("latin-1"), "not UTF-8 text"),
        ("empty.md", b"   \n", "no text found"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KbError, match=reason):
        parse_file(path)


def test_long_sections_are_chunked_on_sentences() -> None:
    sentence = "The payout threshold is one hundred euros and balances roll over. "
    pieces = chunks(sentence * 30, words=40)
    assert len(pieces) > 3 and all(len(p.split()) <= 40 for p in pieces)


def test_bm25_ranks_the_right_passage_and_filters_by_language(tmp_path: Path) -> None:
    index = KnowledgeIndex.build(shipped_passages())
    (best, *_) = index.search("What is the minimum payout?", "en")
    assert best.passage.locator == "payment_threshold" and best.passage.language == "en"
    (mejor, *_) = index.search("¿Cuál es el pago mínimo?", "es")
    assert mejor.passage.locator == "payment_threshold" and mejor.passage.language == "es"
    weather = index.search("Will it rain in Lisbon tomorrow?", "en")
    assert not weather or weather[0].score < 0.2
    assert best.score > 0.6


def test_load_replace_and_remove_sources(settings: Settings, tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(GUIDE, encoding="utf-8")
    report = load_files(settings, [guide], encoder=None)
    assert report.files == {"guide.md": 3}
    assert report.total_passages == len(shipped_passages()) + 3
    index = knowledge_index(settings, encoder=None)
    assert index.search("W-8BEN tax form", "en")[0].passage.source == "guide.md"

    guide.write_text("# Payments\n\nOnly EUR payouts from now on.\n", encoding="utf-8")
    load_files(settings, [guide], encoder=None)  # same name: replaces the old version
    assert len(loaded_sources(settings)["guide.md"]) == 1
    index = knowledge_index(settings, encoder=None)
    assert all("W-8BEN" not in p.text for p in index.passages)

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"x")
    with pytest.raises(KbError):
        load_files(settings, [guide, bad], encoder=None)
    assert list(loaded_sources(settings)) == ["guide.md"]  # nothing half-loaded
    assert remove_source(settings, "guide.md", encoder=None)
    assert not remove_source(settings, "guide.md", encoder=None)
    assert len(knowledge_index(settings, encoder=None).passages) == len(shipped_passages())


def test_cli_kb_load_errors_exit_2_on_one_line(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    with use_settings(settings):
        missing = runner.invoke(assistant_app, ["kb", "load", str(tmp_path / "nope.md")])
        (tmp_path / "x.pptx").write_bytes(b"x")
        unsupported = runner.invoke(assistant_app, ["kb", "load", str(tmp_path / "x.pptx")])
        gone = runner.invoke(assistant_app, ["kb", "remove", "never-loaded.md"])
    for result, message in (
        (missing, "no such file"),
        (unsupported, "unsupported file type .pptx"),
        (gone, "no loaded source named 'never-loaded.md'"),
    ):
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
