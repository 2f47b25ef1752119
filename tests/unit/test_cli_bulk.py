"""``hearth classify`` and ``hearth translate`` on a scripted engine: input, output, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.options import LoadOptions
from app.engine.client import EngineClient
from app.engine.thread_transport import ThreadTransport
from tests.fakes.backend import Script, ScriptedBackend


@pytest.fixture
def fake_engine(monkeypatch):
    """The commands get a scripted engine instead of loading a real model."""
    scripts: list[Script] = [Script(context_length=4096, score_keywords=("good", "bad"))]
    loads: list[int] = []

    def load_model(services, args):
        script = scripts[0]
        client = EngineClient(lambda: ThreadTransport(lambda: ScriptedBackend(script)))
        assert client.load(LoadOptions("/fake.gguf")).wait(5).ok
        loads.append(1)
        return client, None

    monkeypatch.setattr("app.cli.bulk.load_model", load_model)
    monkeypatch.setattr("app.cli.classify.load_model", load_model)
    monkeypatch.setattr("app.cli.translate.load_model", load_model)
    return scripts, loads


def run(capsys, monkeypatch, argv: list[str], stdin: str | bytes = "") -> tuple[int, str, str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- classify ------------------------------------------------------------------------------


def test_classify_json_from_stdin_keeps_every_row_in_order(capsys, monkeypatch, fake_engine):
    lines = "a good day\n\nso bad\n   \nplain\n"
    code, out, err = run(capsys, monkeypatch, ["classify", "--labels", "good,bad", "--json"], lines)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["text"] for r in rows] == ["a good day", "", "so bad", "   ", "plain"]
    assert [r["label"] for r in rows] == ["good", "", "bad", "", "good"]
    assert rows[0]["confidence"] > 0.9 and rows[1]["confidence"] is None
    assert rows[1]["empty"] is True
    assert "2 empty item(s) got no label (rows 2, 4)" in err


def test_classify_plain_output_is_label_confidence_text(capsys, monkeypatch, fake_engine):
    code, out, _ = run(capsys, monkeypatch, ["classify", "--labels", "good,bad"], "so bad\n")
    assert code == 0
    label, confidence, text = out.rstrip("\n").split("\t")
    assert (label, text) == ("bad", "so bad") and float(confidence) > 0.9


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "No labels were given"),
        (["--labels", "spam"], "Only one label"),
        (["--labels", "spam,ham,spam"], "'spam' is given twice"),
    ],
)
def test_classify_refuses_bad_labels_before_loading(
    capsys, monkeypatch, fake_engine, labels, message
):
    code, out, err = run(capsys, monkeypatch, ["classify", *labels], "x\n")
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
    assert fake_engine[1] == []


def test_classify_csv_column_to_csv_file(capsys, monkeypatch, fake_engine, tmp_path: Path):
    source = tmp_path / "in.csv"
    source.write_text('id,review\n1,"good, really"\n2,\n3,bad bad\n', encoding="utf-8")
    target = tmp_path / "out.csv"
    argv = ["classify", "--labels", "good,bad", "--input", str(source)]
    code, out, err = run(
        capsys, monkeypatch, [*argv, "--column", "review", "--output", str(target)]
    )
    assert code == 0, err
    assert out == ""
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == ["id", "review", "label", "confidence", "alternatives", "flags"]
    assert [r[:3] for r in rows[1:]] == [
        ["1", "good, really", "good"],
        ["2", "", ""],
        ["3", "bad bad", "bad"],
    ]
    assert rows[2][5] == "empty"


def test_classify_missing_column_lists_the_columns(capsys, monkeypatch, fake_engine, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,review\n1,x\n", encoding="utf-8")
    argv = ["classify", "--labels", "a,b", "--input", str(source), "--column", "text"]
    code, _, err = run(capsys, monkeypatch, argv)
    assert code == 2
    assert "has no column 'text'" in err and "'id', 'review'" in err


def test_classify_non_utf8_file_is_a_clear_error(capsys, monkeypatch, fake_engine, tmp_path):
    source = tmp_path / "latin1.txt"
    source.write_bytes("caf\u00e9 ok\nna\u00efve\n".encode("latin-1"))
    code, _, err = run(capsys, monkeypatch, ["classify", "--labels", "a,b", "--input", str(source)])
    assert code == 2
    assert "is not UTF-8 text (byte 0xe9 on line 1)" in err and "UTF-8" in err


def test_classify_huge_item_is_labelled_and_flagged(capsys, monkeypatch, fake_engine):
    lines = "good\n" + "bad " * 3000 + "\n"
    code, out, err = run(capsys, monkeypatch, ["classify", "--labels", "good,bad", "--json"], lines)
    assert code == 0
    rows = json.loads(out)
    assert [r["truncated"] for r in rows] == [False, True]
    assert rows[1]["label"] == "bad"
    assert "cut to fit the context" in err


def test_classify_examples_must_name_a_label(capsys, monkeypatch, fake_engine):
    argv = ["classify", "--labels", "a,b", "--example", "hello=c"]
    code, _, err = run(capsys, monkeypatch, argv, "x\n")
    assert code == 2 and "'c', which is not in the list" in err


# -- translate -----------------------------------------------------------------------------


def test_translate_streams_a_text_keeping_paragraphs(capsys, monkeypatch, fake_engine):
    fake_engine[0][0] = Script(context_length=4096, pieces=(b"Hallo", b" Welt"))
    code, out, err = run(capsys, monkeypatch, ["translate", "--to", "German", "one\n\ntwo"])
    assert code == 0, err
    assert out == "Hallo Welt\n\nHallo Welt\n"


def test_translate_csv_column_adds_a_column(capsys, monkeypatch, fake_engine, tmp_path):
    fake_engine[0][0] = Script(context_length=4096, pieces=(b"Hallo",))
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,hello\n2,\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    argv = ["translate", "--to", "de", "--input", str(source), "--column", "text"]
    code, _, err = run(
        capsys, monkeypatch, [*argv, "--output", str(target), "--term", "hello=Servus"]
    )
    assert code == 0, err
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == ["id", "text", "text (de)", "flags"]
    assert rows[1] == ["1", "hello", "Hallo", "glossary missed: hello"]
    assert rows[2][:3] == ["2", "", ""]
    assert "fixed translation of hello is not in the answer" in err


def test_translate_lines_from_stdin_one_per_line(capsys, monkeypatch, fake_engine):
    fake_engine[0][0] = Script(context_length=4096, pieces=(b"Salut",))
    code, out, _ = run(capsys, monkeypatch, ["translate", "--to", "French"], "hi\n\nbye\n")
    assert code == 0
    assert out == "Salut\n\nSalut\n"


def test_translate_bad_glossary_line(capsys, monkeypatch, fake_engine, tmp_path):
    glossary = tmp_path / "terms.txt"
    glossary.write_text("Hearth = Hearth\nnonsense\n", encoding="utf-8")
    argv = ["translate", "--to", "de", "--glossary", str(glossary), "hi"]
    code, _, err = run(capsys, monkeypatch, argv)
    assert code == 2 and "Cannot read the glossary line 'nonsense'" in err


def test_classify_ctrl_c_prints_the_finished_rows_and_exits_130(capsys, monkeypatch, fake_engine):
    def interrupt(self, done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("app.cli.bulk.RateLine.update", interrupt)
    lines = "".join(f"good {i}\n" for i in range(20))
    code, out, err = run(capsys, monkeypatch, ["classify", "--labels", "good,bad", "--json"], lines)
    assert code == 130
    assert [r["text"] for r in json.loads(out)] == ["good 0", "good 1"]
    assert "stopped after 2 of 20 items" in err


def test_only_real_line_ends_split_items():
    from app.tasks.inputs import parse_lines

    text = "one\x0cstill one\r\ntwo\u2028still two\rthree\n\nfive\n"
    expected = ("one\x0cstill one", "two\u2028still two", "three", "", "five")
    assert parse_lines(text).texts == expected
    assert parse_lines("").texts == ()
    assert parse_lines("no newline").texts == ("no newline",)
