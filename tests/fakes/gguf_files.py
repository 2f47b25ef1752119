"""Small, valid GGUF files written with the gguf package, for tests to damage or list."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
TOKENS = ["<unk>", "<s>", "</s>", "hello", "world", "é"]
# Tensor data layout of the crafted file: F32 4096 bytes at 0, Q8_0 8704 bytes at 4096,
# F32 256 bytes at 12800; all offsets are multiples of the default alignment, 32.
DATA_END = 12800 + 256
PARAMS = 16 * 64 + 128 * 64 + 64


def write_model(
    path: Path,
    arch: str = "llama",
    *,
    file_type: bool = True,
    alignment: int | None = None,
    tensors: bool = True,
    endian: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE,
) -> Path:
    writer = gguf.GGUFWriter(path, arch, endianess=endian)
    writer.add_name("Tiny Test")
    writer.add_license("mit")
    writer.add_context_length(256)
    writer.add_block_count(1)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    if file_type:
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(TOKENS)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(TEMPLATE)
    if tensors:
        rng = np.random.default_rng(0)
        writer.add_tensor("token_embd.weight", rng.random((16, 64), dtype=np.float32))
        q8 = gguf.quants.quantize(
            rng.random((128, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0
        )
        writer.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
