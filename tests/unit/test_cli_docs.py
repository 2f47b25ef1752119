"""`hearth docs add/list/search/remove` and the errors of `hearth ask --docs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from tests.fakes.corpus import write_corpus
from tests.fakes.documents import write_pdf


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = write_corpus(tmp_path / "company", distractors=3)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    return folder


def run_json(capsys, *argv: str):
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_add_list_search_and_remove(folder: Path, capsys):
    added = run_json(capsys, "docs", "add", "company", str(folder))
    assert (added["added"], added["files"]) == (10, 9)
    assert added["problems"] == [
        {"path": str(folder / "broken.pdf"), "reason": added["problems"][0]["reason"]}
    ]
    assert added["problems"][0]["reason"].startswith("not a valid PDF")

    [listed] = run_json(capsys, "docs", "list")
    assert listed["name"] == "company" and listed["folder"] == str(folder)
    assert listed["files"] == 9 and listed["chunks"] > 9 and len(listed["problems"]) == 1

    hits = run_json(capsys, "docs", "search", "company", "Why did shipping costs fall?")
    assert hits[0]["path"].endswith("annual-report.pdf") and hits[0]["page"] == 2
    assert "rail freight" in hits[0]["text"]

    assert main(["docs", "search", "company", "Who manages the Munich office?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] offices.csv\n") and "Peter Braun" in out

    assert main(["docs", "remove", "company"]) == 0
    assert "removed collection 'company'" in capsys.readouterr().err
    assert run_json(capsys, "docs", "list") == []


def test_adding_again_reindexes_only_what_changed(folder: Path, capsys):
    run_json(capsys, "docs", "add", "company", str(folder))
    write_pdf(folder / "broken.pdf", [["Repaired: the canteen opens at noon."]])
    (folder / "travel.txt").unlink()
    again = run_json(capsys, "docs", "add", "company")  # the folder is remembered
    assert (again["added"], again["updated"], again["removed"], again["unchanged"]) == (0, 1, 1, 8)
    assert again["problems"] == []

    assert main(["docs", "add", "company"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("company: 9 files,") and "0 added, 0 updated" in out


def test_text_output_lists_unreadable_files(folder: Path, capsys):
    assert main(["docs", "add", "company", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1 could not be read" in out
    assert f"Could not read:\n  {folder / 'broken.pdf'}: not a valid PDF" in out
    assert main(["docs", "list"]) == 0
    assert f"cannot read {folder / 'broken.pdf'}: not a valid PDF" in capsys.readouterr().out


def test_usage_errors(tmp_path: Path, capsys):
    assert main(["docs", "search", "nothing", "query"]) == 2
    assert "There is no document collection 'nothing'." in capsys.readouterr().err
    assert main(["docs", "add", "x", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["docs", "add", "x"]) == 2
    assert "Give the folder to index" in capsys.readouterr().err
    assert main(["ask", "--docs", "nothing", "question?"]) == 2
    assert "hearth docs list" in capsys.readouterr().err


def test_a_collection_keeps_its_folder(folder: Path, tmp_path: Path, capsys):
    run_json(capsys, "docs", "add", "company", str(folder))
    other = tmp_path / "other"
    other.mkdir()
    assert main(["docs", "add", "company", str(other)]) == 2
    assert f"Collection 'company' indexes {folder}." in capsys.readouterr().err


def test_names_kept_for_attachments_are_refused(folder: Path, capsys):
    assert main(["docs", "add", "chat-7", str(folder)]) == 2
    assert "kept for the files attached to conversations" in capsys.readouterr().err
