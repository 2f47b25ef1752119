"""Reading documents: every format from files the tests write, and the files that fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.docs.chunking import chunk_blocks, split_long
from app.docs.extract import Block, UnreadableDocument, extract
from tests.fakes.documents import write_docx, write_pdf


def texts(path: Path) -> list[tuple[str, str, int | None]]:
    return [(b.kind, b.text, b.page) for b in extract(path).blocks]


def test_plain_text_paragraphs(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph\nstill first.\n\n\nSecond one.\r\n\r\nThird.", "utf-8")
    assert texts(path) == [
        ("text", "First paragraph\nstill first.", None),
        ("text", "Second one.", None),
        ("text", "Third.", None),
    ]


def test_markdown_headings_and_code_fences(tmp_path: Path):
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\nIntro text.\n\n## Install\n\n```sh\npip install x\n\n# not a heading\n```\n\n"
        "Setext title\n============\n\nBody.\n",
        "utf-8",
    )
    extracted = extract(path)
    assert extracted.title == "Guide"
    assert [(b.kind, b.level, b.text) for b in extracted.blocks] == [
        ("heading", 1, "Guide"),
        ("text", 0, "Intro text."),
        ("heading", 2, "Install"),
        ("text", 0, "```sh\npip install x\n\n# not a heading\n```"),
        ("heading", 1, "Setext title"),
        ("text", 0, "Body."),
    ]


def test_pdf_text_keeps_page_numbers(tmp_path: Path):
    path = write_pdf(
        tmp_path / "report.pdf",
        [["Revenue grew by 12 percent (north)."], ["Costs fell."], ["Outlook: steady."]],
        title="Report 2024",
    )
    extracted = extract(path)
    assert extracted.pages == 3 and extracted.title == "Report 2024"
    assert [(b.text, b.page) for b in extracted.blocks] == [
        ("Revenue grew by 12 percent (north).", 1),
        ("Costs fell.", 2),
        ("Outlook: steady.", 3),
    ]
    chunks = chunk_blocks(extracted.blocks)
    assert [c.page for c in chunks] == [1, 2, 3]  # a passage never spans pages


def test_docx_headings_paragraphs_and_tables(tmp_path: Path):
    path = write_docx(
        tmp_path / "prices.docx",
        [
            ("h1", "Price list"),
            ("p", "Licences cost 40 euros."),
            ("h2", "Discounts"),
            ("p", "15 percent above 100 seats."),
            ("table", "Seats | Discount"),
        ],
        title="Prices",
    )
    extracted = extract(path)
    assert extracted.title == "Prices"
    chunks = chunk_blocks(extracted.blocks)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Price list", "Licences cost 40 euros."),
        ("Price list > Discounts", "15 percent above 100 seats.\n\nSeats | Discount"),
    ]


def test_html_drops_scripts_and_keeps_structure(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Intranet</title><style>p{}</style></head><body>"
        "<script>alert('x')</script><h2>Parking</h2><p>Level <b>-2</b>,&nbsp;garage.</p>"
        "<ul><li>Bikes</li><li>Cars</li></ul></body></html>",
        "utf-8",
    )
    extracted = extract(path)
    assert extracted.title == "Intranet"
    assert [(b.kind, b.text) for b in extracted.blocks] == [
        ("heading", "Parking"),
        ("text", "Level -2,\xa0garage."),
        ("text", "Bikes"),
        ("text", "Cars"),
    ]


def test_csv_rows_read_with_their_column_names(tmp_path: Path):
    path = tmp_path / "offices.csv"
    path.write_text("office;city;manager\nHQ;Hamburg;Anna\nSouth;Munich;Peter\n", "utf-8")
    assert texts(path) == [
        ("text", "office: HQ; city: Hamburg; manager: Anna", None),
        ("text", "office: South; city: Munich; manager: Peter", None),
    ]


def test_non_utf8_text_is_read_as_windows_1252_with_a_note(tmp_path: Path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Café crème \u2013 5 €".encode("cp1252"))
    extracted = extract(path)
    assert extracted.blocks[0].text == "Café crème \u2013 5 €"
    assert "Windows-1252" in extracted.note


def test_utf16_with_a_bom_is_read(tmp_path: Path):
    path = tmp_path / "export.txt"
    path.write_bytes("Grüße aus Köln".encode("utf-16"))
    assert texts(path) == [("text", "Grüße aus Köln", None)]


def test_a_corrupt_pdf_is_unreadable_with_a_reason(tmp_path: Path):
    good = write_pdf(tmp_path / "good.pdf", [["Some text"]]).read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(good[: len(good) // 3])
    with pytest.raises(UnreadableDocument) as caught:
        extract(path)
    assert caught.value.reason.startswith("not a valid PDF")


def test_a_file_that_is_not_a_pdf_at_all(tmp_path: Path):
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(UnreadableDocument, match="no PDF header"):
        extract(path)


def test_a_password_protected_pdf_is_named_as_such(tmp_path: Path):
    from pypdf import PdfReader, PdfWriter

    source = write_pdf(tmp_path / "plain.pdf", [["Secret plans"]])
    writer = PdfWriter()
    for page in PdfReader(str(source)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="hunter2", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(UnreadableDocument, match="password protected"):
        extract(path)


def test_a_pdf_without_text_says_it_may_be_scanned(tmp_path: Path):
    path = write_pdf(tmp_path / "scan.pdf", [[]])
    with pytest.raises(UnreadableDocument, match="scanned PDF"):
        extract(path)


def test_a_corrupt_docx(tmp_path: Path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnreadableDocument, match="not a valid Word document"):
        extract(path)


def test_a_binary_file_named_txt(tmp_path: Path):
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(UnreadableDocument, match="binary"):
        extract(path)


def test_an_empty_file(tmp_path: Path):
    path = tmp_path / "empty.md"
    path.write_text("  \n\n", "utf-8")
    with pytest.raises(UnreadableDocument, match="empty"):
        extract(path)


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:  # sparse: 3 GB on paper, nothing on disk
        handle.truncate(3 * 1024**3)
    with pytest.raises(UnreadableDocument) as caught:
        extract(path)
    assert caught.value.reason == "too large: 3221 MB (the limit is 67 MB)"


def test_a_large_text_file_is_cut_into_bounded_passages(tmp_path: Path):
    path = tmp_path / "big.txt"
    paragraph = "The quick brown fox jumps over the lazy dog. " * 20
    path.write_text("\n\n".join(f"{n}: {paragraph}" for n in range(5000)), "utf-8")
    assert os.path.getsize(path) > 4_000_000
    chunks = chunk_blocks(extract(path).blocks)
    assert len(chunks) >= 4000
    assert max(len(c.text) for c in chunks) <= 2000
    assert chunks[0].text.startswith("0: The quick") and chunks[-1].text.startswith("4999:")


def test_an_unsupported_type(tmp_path: Path):
    path = tmp_path / "slides.pptx"
    path.write_bytes(b"x")
    with pytest.raises(UnreadableDocument, match=r"unsupported file type '\.pptx'"):
        extract(path)


def test_chunks_follow_headings_and_paragraph_sizes():
    blocks = [
        Block("heading", "Handbook", level=1),
        Block("text", "A" * 700),
        Block("text", "B" * 700),  # would pass the 1200 target: a new passage
        Block("heading", "Parking", level=2),
        Block("text", "Level -2."),
        Block("heading", "Travel", level=2),
        Block("text", "Trains."),
        Block("heading", "Appendix", level=1),
        Block("text", "End."),
    ]
    chunks = chunk_blocks(blocks)
    assert [(c.heading, c.text[:3]) for c in chunks] == [
        ("Handbook", "AAA"),
        ("Handbook", "BBB"),
        ("Handbook > Parking", "Lev"),
        ("Handbook > Travel", "Tra"),
        ("Appendix", "End"),
    ]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3, 4]


def test_a_long_paragraph_is_split_at_sentences_then_spaces():
    sentences = " ".join(f"Sentence number {n} says something useful." for n in range(200))
    pieces = list(split_long(sentences, 500))
    assert all(len(p) <= 500 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == sentences
    no_spaces = "x" * 1234
    assert list(split_long(no_spaces, 500)) == ["x" * 500, "x" * 500, "x" * 234]


def test_a_reader_that_breaks_on_a_strange_file_makes_only_that_file_unreadable(
    tmp_path: Path, monkeypatch
):
    import app.docs.extract as extract_module

    def broken(path: Path):
        raise ZeroDivisionError("float division by zero")  # as pypdf can, on odd files

    monkeypatch.setitem(extract_module._READERS, ".pdf", broken)
    odd = tmp_path / "odd.pdf"
    odd.write_bytes(b"%PDF-1.4 odd")
    with pytest.raises(UnreadableDocument, match="could not be read"):
        extract(odd)
