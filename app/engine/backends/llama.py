"""The llama.cpp backend (llama-cpp-python). The only module that imports llama_cpp."""

from __future__ import annotations

import collections
import ctypes
import logging
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama_c
import numpy as np

from app.core.errors import EmbeddingsUnsupported, HearthError, InvalidModelFile, ModelLoadError
from app.core.fit import suggest_gpu_layers
from app.core.gguf_inspect import inspect_gguf
from app.core.hardware import probe_hardware
from app.core.options import AUTO, LoadOptions, SamplingOptions
from app.engine.backend import EmbeddingBatch, ProgressCallback, ScoreBatch, StopCheck
from app.engine.backends.llama_embeddings import EmbeddingContext
from app.engine.protocol import BuildInfo, LoadedModel

log = logging.getLogger(__name__)

CUDA_HINT = (
    "This llama.cpp build runs on the CPU only. For NVIDIA GPU offload, reinstall it with "
    'CUDA: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir '
    f"llama-cpp-python=={llama_cpp.__version__}"
)
PACKAGED_CUDA_HINT = (
    "This Hearth package runs on the CPU only. For NVIDIA GPU offload, install Hearth's "
    "CUDA package instead (hearth-cuda on Linux) and the NVIDIA driver."
)
NO_GPU_NOTE = (
    "This build supports GPU offload, but no GPU was found: check that the NVIDIA driver "
    "is installed and that nvidia-smi lists the GPU."
)

_LOG_LINES = 40
_GGML_TYPES = {"f16": 1, "q4_0": 2, "q8_0": 8}  # ggml_type values
_GGML_LOG_LEVEL_ERROR = 4
SCORE_SEQUENCES = 32
"""llama.cpp sequences the context is created with: 0 holds the shared prompt prefix,
the others take the items scored together in one decode call."""


class _NativeLog:
    """Keeps llama.cpp's recent log lines so a failed load can say why."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._partial = ""
        self._lock = threading.Lock()

        @llama_c.llama_log_callback  # type: ignore[untyped-decorator]
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            message = text.decode("utf-8", errors="replace")
            sys.stderr.write(message)
            with self._lock:
                data = self._partial + message
                *complete, self._partial = data.split("\n")
                self.lines.extend(line for line in complete if line.strip())

        self._callback = callback  # keep the C function pointer alive
        llama_c.llama_log_set(callback, ctypes.c_void_p(0))

    def error_since(self, mark: int) -> str:
        with self._lock:
            recent = list(self.lines)[mark:] if mark < len(self.lines) else []
        for line in reversed(recent):
            lowered = line.lower()
            if "error" in lowered or "failed" in lowered or "unknown" in lowered:
                return line.strip()[:300]
        return ""

    def mark(self) -> int:
        with self._lock:
            self.lines.clear()
            return 0


def _device_names() -> tuple[str, ...]:
    """GPU devices that ggml registered, read through its C API (best effort)."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    names: list[str] = []
    for candidate in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
        path = lib_dir / candidate
        if not path.exists():
            continue
        try:
            lib = ctypes.CDLL(str(path))
            lib.ggml_backend_dev_count.restype = ctypes.c_size_t
            lib.ggml_backend_dev_get.restype = ctypes.c_void_p
            lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
            lib.ggml_backend_dev_type.restype = ctypes.c_int
            lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_dev_name.restype = ctypes.c_char_p
            lib.ggml_backend_dev_name.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_dev_description.restype = ctypes.c_char_p
            lib.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
            for index in range(lib.ggml_backend_dev_count()):
                dev = lib.ggml_backend_dev_get(index)
                # 0 = CPU, 1 = GPU, 2 = accelerator (BLAS and the like): list GPUs only.
                if lib.ggml_backend_dev_type(dev) == 1:
                    name = lib.ggml_backend_dev_name(dev).decode(errors="replace")
                    desc = lib.ggml_backend_dev_description(dev).decode(errors="replace")
                    names.append(f"{name} ({desc})")
        except (OSError, AttributeError) as exc:
            log.info("could not list ggml devices: %s", exc)
        break
    return tuple(names)


class LlamaBackend:
    def __init__(self) -> None:
        self._native_log = _NativeLog()
        self._llm: Any = None
        self._model: LoadedModel | None = None
        self._special = ("", "")
        self._add_bos = False
        self._build: BuildInfo | None = None
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._embedder: EmbeddingContext | None = None
        self._threads: int | None = None

    def build_info(self) -> BuildInfo:
        if self._build is None:
            offload = bool(llama_c.llama_supports_gpu_offload())
            devices = _device_names() if offload else ()
            # A packaged (frozen) Hearth cannot be reinstalled with pip: name its package.
            hint = PACKAGED_CUDA_HINT if getattr(sys, "frozen", False) else CUDA_HINT
            note = "" if offload else hint
            if offload and not devices:
                note = NO_GPU_NOTE
            self._build = BuildInfo(
                backend="llama.cpp",
                version=f"llama-cpp-python {llama_cpp.__version__}",
                gpu_offload=offload and bool(devices),
                devices=devices,
                note=note,
            )
        return self._build

    # -- loading -------------------------------------------------------------------------

    def load(self, options: LoadOptions, progress: ProgressCallback) -> LoadedModel:
        self.unload()
        path = options.path
        try:
            info = inspect_gguf(path)
        except InvalidModelFile as exc:
            raise ModelLoadError(path, exc.reason, exc.hint) from exc
        build = self.build_info()
        n_ctx = options.context_length
        if info.context_length:
            n_ctx = min(n_ctx, info.context_length)
        gpu_layers = options.gpu_layers
        if gpu_layers == AUTO:
            # All layers when they fit in free VRAM, else as many as fit (docs/models.md).
            gpu_layers = 0
            if build.gpu_offload:
                gpu_layers = suggest_gpu_layers(
                    info, n_ctx, options.kv_cache_type, probe_hardware(), offload=True
                )

        cancelled = False

        @llama_c.llama_progress_callback  # type: ignore[untyped-decorator]
        def on_progress(value: float, user_data: ctypes.c_void_p) -> bool:
            nonlocal cancelled
            keep_going = progress(float(value))
            cancelled = cancelled or not keep_going
            return keep_going

        self._native_log.mark()
        started = time.perf_counter()
        try:
            llm = self._construct(options, path, n_ctx, gpu_layers, on_progress)
        except (ValueError, RuntimeError, OSError) as exc:
            if cancelled:
                raise ModelLoadError(path, "loading was cancelled") from exc
            reason = self._native_log.error_since(0) or str(exc)
            raise ModelLoadError(
                path,
                reason,
                "If memory is short, try a shorter context length or fewer GPU layers.",
            ) from exc
        load_ms = (time.perf_counter() - started) * 1000.0
        progress(1.0)

        self._llm = llm
        self._threads = options.threads
        model = llm._model
        bos_id, eos_id = model.token_bos(), model.token_eos()
        self._special = (
            model.token_get_text(bos_id) if bos_id >= 0 else "",
            model.token_get_text(eos_id) if eos_id >= 0 else "",
        )
        self._add_bos = bool(model.add_bos_token())
        layers = info.block_count
        offloaded = 0
        if build.gpu_offload and gpu_layers != 0:
            total = (layers or 0) + 1  # the output layer counts too
            offloaded = total if gpu_layers < 0 else min(gpu_layers, total)
        device = f"GPU: {build.devices[0]}" if offloaded and build.devices else "CPU"
        self._model = LoadedModel(
            path=str(path),
            name=info.name or Path(path).stem,
            architecture=info.architecture,
            quantization=info.quantization,
            context_length=int(llm.n_ctx()),
            trained_context_length=info.context_length,
            layers=layers,
            gpu_layers=offloaded,
            device=device,
            load_ms=load_ms,
            chat_template=info.chat_template,
        )
        log.info("loaded %s in %.0f ms on %s", path, load_ms, device)
        return self._model

    @staticmethod
    def _construct(
        options: LoadOptions, path: str, n_ctx: int, gpu_layers: int, on_progress: Any
    ) -> Any:
        # Llama() has no progress hook; it builds its model params from
        # llama_model_default_params(), so hand it params that carry our callback.
        original = llama_c.llama_model_default_params
        original_context = llama_c.llama_context_default_params

        def params_with_progress() -> Any:
            params = original()
            params.progress_callback = on_progress
            return params

        def context_with_sequences() -> Any:
            # Scoring evaluates several items at once as separate sequences that share
            # the cached prompt prefix: that needs one KV buffer for all sequences.
            params = original_context()
            params.n_seq_max = SCORE_SEQUENCES
            params.kv_unified = True
            return params

        # llama.cpp quantizes the V cache only with flash attention; K works without it.
        cache_type = _GGML_TYPES[options.kv_cache_type]
        type_v = cache_type if options.flash_attention else _GGML_TYPES["f16"]
        llama_c.llama_model_default_params = params_with_progress
        llama_c.llama_context_default_params = context_with_sequences
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=min(options.batch_size, n_ctx),
                n_ubatch=min(options.batch_size, n_ctx),
                n_gpu_layers=gpu_layers,
                n_threads=options.threads,
                n_threads_batch=options.threads,
                flash_attn=options.flash_attention,
                use_mmap=options.use_mmap,
                use_mlock=options.use_mlock,
                type_k=cache_type,
                type_v=type_v,
                verbose=True,
            )
        finally:
            llama_c.llama_model_default_params = original
            llama_c.llama_context_default_params = original_context

    def unload(self) -> None:
        llm, self._llm = self._llm, None
        embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()  # before its model
        self._model = None
        self._pieces = {}
        self._eog = {}
        if llm is not None:
            llm.close()

    # -- generation ----------------------------------------------------------------------

    @property
    def _loaded(self) -> Any:
        if self._llm is None:
            raise RuntimeError("no model loaded")
        return self._llm

    @property
    def context_length(self) -> int:
        return int(self._loaded.n_ctx())

    @property
    def special_tokens(self) -> tuple[str, str]:
        return self._special

    def tokenize(self, text: str) -> list[int]:
        bos = self._special[0]
        add_bos = self._add_bos and not (bos and text.startswith(bos))
        tokens: list[int] = self._loaded.tokenize(
            text.encode("utf-8"), add_bos=add_bos, special=True
        )
        return tokens

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        llm = self._loaded
        evaluated = llm.input_ids[: llm.n_tokens]
        size = min(len(evaluated), len(tokens))
        if size == 0:
            return 0
        same = evaluated[:size] == np.asarray(tokens[:size], dtype=evaluated.dtype)
        prefix = size if bool(same.all()) else int(np.argmin(same))
        # llama-cpp-python re-evaluates one token when the whole prompt is cached.
        return max(0, prefix - 1) if prefix == len(tokens) else prefix

    def generate(self, tokens: Sequence[int], sampling: SamplingOptions) -> Iterator[int]:
        llm = self._loaded
        # The host fixes the seed before this call, so an answer can be reproduced.
        llm.set_seed(sampling.seed if sampling.seed is not None else 0)
        generator: Iterator[int] = llm.generate(
            list(tokens),
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )
        return generator

    def embed(self, texts: Sequence[str], stop: StopCheck) -> EmbeddingBatch | None:
        if self._embedder is None:
            try:
                self._embedder = EmbeddingContext(self._loaded, self._threads)
            except ValueError as exc:
                raise EmbeddingsUnsupported(self._model.name if self._model else "") from exc
        return self._embedder.embed(texts, stop)

    def token_piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._read_piece(token)
        return piece

    def _read_piece(self, token: int) -> bytes:
        # llama-cpp-python's own token_to_piece returns the whole 32-byte buffer; ask
        # llama.cpp for the length and grow the buffer when a piece is longer.
        vocab = self._loaded._model.vocab
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            written = int(llama_c.llama_token_to_piece(vocab, token, buffer, size, 0, False))
            if written >= 0:
                return buffer.raw[:written]
            size = -written

    def is_end_of_generation(self, token: int) -> bool:
        # Cached per token: a ctypes call per token is slow right after a decode step.
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(
                llama_c.llama_vocab_is_eog(self._loaded._model.vocab, token)
            )
        return eog

    # -- scoring -------------------------------------------------------------------------

    def tokenize_fragment(self, text: str, special: bool) -> list[int]:
        tokens: list[int] = self._loaded.tokenize(
            text.encode("utf-8"), add_bos=False, special=special
        )
        return tokens

    def _hold_prefix(self, prefix: Sequence[int]) -> int:
        """Leave exactly ``prefix`` in sequence 0 of the KV cache; return tokens evaluated."""
        llm = self._loaded
        evaluated = llm.input_ids[: llm.n_tokens]
        size = min(len(evaluated), len(prefix))
        same = 0
        if size:
            equal = evaluated[:size] == np.asarray(prefix[:size], dtype=evaluated.dtype)
            same = size if bool(equal.all()) else int(np.argmin(equal))
        if same == len(prefix):
            if llm.n_tokens != same:
                llm.n_tokens = same
                llm._ctx.kv_cache_seq_rm(-1, same, -1)
            return 0
        llm.n_tokens = same
        llm.eval(list(prefix[same:]))
        return len(prefix) - same

    def score(
        self,
        prefix: Sequence[int],
        sequences: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]],
    ) -> ScoreBatch:
        llm = self._loaded
        prefix_evaluated = self._hold_prefix(prefix)
        start = len(prefix)
        multi = [c for c, tokens in enumerate(candidates) if len(tokens) > 1]
        seqs_per_item = 1 + len(multi)
        if seqs_per_item > SCORE_SEQUENCES - 1:
            raise TooManyLongLabels(len(multi), SCORE_SEQUENCES - 2)
        per_group = max(1, (SCORE_SEQUENCES - 1) // seqs_per_item)
        logprobs = [[0.0] * len(candidates) for _ in sequences]
        n_batch = int(llm.n_batch)
        # Every sequence of a group shares the one (unified) KV cache with the prefix.
        room = int(llm.n_ctx()) - start
        batch = llama_c.llama_batch_init(n_batch, 0, seqs_per_item)
        mem = llama_c.llama_get_memory(llm._ctx.ctx)
        evaluated = 0
        calls = 0
        try:
            for group in _score_groups(sequences, candidates, multi, per_group, room):
                # Entries: token, position, sequence ids, and what its logits score:
                # (item, candidate, next token of that candidate).
                entries: list[tuple[int, int, list[int], list[tuple[int, int, int]]]] = []
                used: list[int] = []
                for slot, item in enumerate(group):
                    base = 1 + slot * seqs_per_item
                    seq_ids = list(range(base, base + seqs_per_item))
                    used.extend(seq_ids)
                    tokens = sequences[item]
                    for offset, token in enumerate(tokens):
                        needs: list[tuple[int, int, int]] = []
                        if offset == len(tokens) - 1:
                            needs = [(item, c, cand[0]) for c, cand in enumerate(candidates)]
                        entries.append((token, start + offset, seq_ids, needs))
                    for branch, c in enumerate(multi, start=1):
                        cand = candidates[c]
                        for step in range(len(cand) - 1):
                            position = start + len(tokens) + step
                            needs = [(item, c, cand[step + 1])]
                            entries.append((cand[step], position, [base + branch], needs))
                for seq in used:
                    llama_c.llama_memory_seq_cp(mem, 0, seq, 0, start)
                try:
                    for at in range(0, len(entries), n_batch):
                        chunk = entries[at : at + n_batch]
                        self._decode_entries(batch, chunk, logprobs)
                        evaluated += len(chunk)
                        calls += 1
                finally:
                    for seq in used:
                        llama_c.llama_memory_seq_rm(mem, seq, -1, -1)
        finally:
            llama_c.llama_batch_free(batch)
        return ScoreBatch(logprobs, prefix_evaluated, evaluated, calls)

    def _decode_entries(
        self,
        batch: Any,
        entries: list[tuple[int, int, list[int], list[tuple[int, int, int]]]],
        logprobs: list[list[float]],
    ) -> None:
        llm = self._loaded
        batch.n_tokens = len(entries)
        for index, (token, position, seq_ids, needs) in enumerate(entries):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = len(seq_ids)
            for k, seq in enumerate(seq_ids):
                batch.seq_id[index][k] = seq
            batch.logits[index] = bool(needs)
        status = int(llama_c.llama_decode(llm._ctx.ctx, batch))
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        n_vocab = int(llm.n_vocab())
        for index, (_, _, _, needs) in enumerate(entries):
            if not needs:
                continue
            pointer = llama_c.llama_get_logits_ith(llm._ctx.ctx, index)
            row = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
            peak = float(row.max())
            log_total = peak + float(np.log(np.exp(row - peak).sum()))
            for item, candidate, target in needs:
                logprobs[item][candidate] += float(row[target]) - log_total


class TooManyLongLabels(HearthError):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            f"{count} labels are several tokens long; at most {limit} can be scored together.",
            "Use shorter labels, or the letters method (--method letters).",
        )


def _score_groups(
    sequences: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[int]],
    multi: Sequence[int],
    per_group: int,
    room: int,
) -> Iterator[range]:
    """Items scored together: at most ``per_group``, and only as many as fit in the
    context left after the prefix (each item alone fits: the host cuts it to)."""
    branch_tokens = sum(len(candidates[c]) - 1 for c in multi)
    first = 0
    while first < len(sequences):
        end, used = first, 0
        while end < len(sequences) and end - first < per_group:
            cost = len(sequences[end]) + branch_tokens
            if end > first and used + cost > room:
                break
            used += cost
            end += 1
        yield range(first, end)
        first = end
