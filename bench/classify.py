"""Classification benchmark: Hearth's scoring job against a chat completion per item.

Both sides use the starter model (same file, context, threads) and the same
instruction: five topic labels with descriptions, guidance and one example per label
(about 400 tokens), then the item (about 60 tokens).

Hearth side: ``Classifier`` with ``EngineScorer`` through the engine child process,
as ``hearth classify`` runs it: the instruction is evaluated once and kept in the KV
cache; per item only its own tokens and the prompt's tail are evaluated, and the
labels are scored from the logits of that one forward pass. Run with one item per
decode call, again (same labels?), and with several items per decode call.

Baseline: what a user would do with a chat app's API: ``llama_cpp.Llama``
``create_chat_completion`` per item (greedy, max 8 tokens) in this process, its
answer matched to a label. llama-cpp-python reuses the cached prompt prefix there too.

    python bench/classify.py --quick            # 60 items, for development
    python bench/classify.py                    # 1,000 items
    python bench/classify.py --variants         # accuracy/calibration of prompt variants
    python bench/classify.py --write-docs       # also write the results into docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.options import LoadOptions  # noqa: E402
from app.core.starter import starter_model_path  # noqa: E402
from app.engine.backends import create_llama_backend  # noqa: E402
from app.engine.client import EngineClient  # noqa: E402
from app.engine.process_transport import ProcessTransport  # noqa: E402
from app.tasks.classify import (  # noqa: E402
    Classification,
    Classifier,
    ClassifyOptions,
    Example,
    Label,
    LabelSet,
)
from app.tasks.scoring import EngineScorer, match_choice  # noqa: E402
from tests.labelled_sets import (  # noqa: E402
    TOPICS,
    LabelledSet,
    accuracy,
    expected_calibration_error,
    sentiment_set,
    topic_set,
)

DOCS_PATH = ROOT / "docs" / "benchmarks.md"
RESULTS_START = "<!-- bench:classify:results:start -->"
RESULTS_END = "<!-- bench:classify:results:end -->"
THREADS = 2
CONTEXT = 2048

INSTRUCTION = (
    "The texts below come from a news and reviews archive that an analyst is sorting "
    "into five sections. Each text belongs to exactly one section. Read the whole text "
    "before you decide. Judge by the main subject of the text, not by single words: a "
    "text about a football club's finances is about finance only if money is its main "
    "subject, and a text about a hospital's new computer system is about technology "
    "only if the computers are the point of the story. Texts about exercise, illness, "
    "sleep, diet advice from doctors, hospitals and medicine belong to health. Texts "
    "about recipes, cooking, restaurants, bakeries and ingredients belong to food. "
    "Texts about companies' profits, shares, interest rates, banks, currencies and "
    "household budgets belong to finance. Texts about devices, software, apps, "
    "computers, robots, the internet and programming belong to technology. Texts about "
    "matches, athletes, teams, records, coaches, tournaments and fans belong to sports. "
    "When a text mentions several subjects, choose the section that most of its "
    "sentences are about. Do not explain your choice."
)


def bench_label_set(data: LabelledSet) -> LabelSet:
    labels = tuple(Label(n, d) for n, d in zip(data.labels, data.descriptions, strict=True))
    examples = tuple(Example(sentences[-1], label) for label, sentences in TOPICS.items())
    return LabelSet(labels, examples, INSTRUCTION)


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- Hearth -------------------------------------------------------------------------------


def run_hearth(
    client: EngineClient, label_set: LabelSet, texts: Sequence[str], per_decode: int
) -> tuple[list[Classification], float, Classifier]:
    classifier = Classifier(
        EngineScorer(client), label_set, ClassifyOptions(items_per_decode=per_decode)
    )
    started = time.perf_counter()
    results = classifier.run(list(texts))
    return results, time.perf_counter() - started, classifier


# -- baseline -----------------------------------------------------------------------------


def run_baseline(
    llm: Any, label_set: LabelSet, texts: Sequence[str]
) -> tuple[list[str], float, int]:
    from app.tasks.classify import build_prompt

    prompt = build_prompt(label_set, ClassifyOptions())
    names = label_set.names
    labels: list[str] = []
    unmatched = 0
    started = time.perf_counter()
    for text in texts:
        messages = [{"role": m.role, "content": m.content} for m in prompt.for_item(text)]
        reply = llm.create_chat_completion(
            messages=messages, temperature=0.0, top_k=1, repeat_penalty=1.0, max_tokens=8, seed=0
        )
        answer = reply["choices"][0]["message"]["content"] or ""
        chosen = match_choice(answer, names)
        if chosen is None:
            unmatched += 1
            labels.append("")
        else:
            labels.append(names[chosen])
    return labels, time.perf_counter() - started, unmatched


def open_baseline(path: Path) -> Any:
    import llama_cpp

    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=CONTEXT,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        n_gpu_layers=0,
        verbose=False,
    )


def engine(path: Path, log: Path) -> EngineClient:
    client = EngineClient(lambda: ProcessTransport(create_llama_backend, log))
    options = LoadOptions(str(path), context_length=CONTEXT, threads=THREADS, gpu_layers=0)
    finished = client.load(options).wait(300)
    if not finished.ok:
        raise SystemExit(f"load failed: {finished.error}")
    return client


def prefix_tokens(llm: Any, label_set: LabelSet, item: str) -> tuple[int, int]:
    """(shared instruction tokens, item tokens) with the model's tokenizer."""
    from app.core.prompting import render_chat_prompt
    from app.engine.protocol import ITEM_SLOT
    from app.tasks.classify import build_prompt

    prompt = build_prompt(label_set, ClassifyOptions())
    template = llm.metadata.get("tokenizer.chat_template")
    text = render_chat_prompt(template, prompt.messages).text
    head = text.partition(ITEM_SLOT)[0]
    count = len(llm.tokenize(head.encode(), add_bos=False, special=True))
    return count, len(llm.tokenize(item.encode(), add_bos=False, special=False))


# -- the benchmark ------------------------------------------------------------------------


def main_bench(count: int, batch_sizes: Sequence[int], chunk: int = 20) -> dict[str, Any]:
    """The methods take turns over chunks of the items, in a rotating order, so that
    load from other processes on a shared machine falls on all alike; times are summed
    per method."""
    path = starter_model_path()
    if path is None:
        raise SystemExit("the starter model is missing")
    data = topic_set(count, sentences=(4, 5, 5))
    label_set = bench_label_set(data)
    texts = list(data.texts)

    llm = open_baseline(path)
    shared, _ = prefix_tokens(llm, label_set, texts[0])
    item_tokens = [prefix_tokens(llm, label_set, t)[1] for t in texts]
    say(f"{count} items, mean {statistics.mean(item_tokens):.1f} tokens; instruction {shared}")
    sizes = [1, *batch_sizes]
    base_labels: list[str] = []
    base_s = 0.0
    unmatched = 0
    seconds = dict.fromkeys(sizes, 0.0)
    chunk_rates: dict[int, list[float]] = {method: [] for method in (0, *sizes)}
    runs: dict[int, list[Classification]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        client = engine(path, Path(tmp) / "engine.log")
        classifiers = {
            size: Classifier(
                EngineScorer(client), label_set, ClassifyOptions(items_per_decode=size)
            )
            for size in sizes
        }
        try:
            for classifier in classifiers.values():
                classifier.run(texts[:1])  # warm: the instruction into the cache, the bias
            methods: list[int] = [0, *sizes]  # 0: the baseline
            for first in range(0, count, chunk):
                part = texts[first : first + chunk]
                # Rotate who goes first, so that a change of load hits each side alike.
                turn = (first // chunk) % len(methods)
                for method in methods[turn:] + methods[:turn]:
                    if method == 0:
                        labels, spent, missed = run_baseline(llm, label_set, part)
                        chunk_rates[0].append(len(part) / spent)
                        base_labels += labels
                        base_s += spent
                        unmatched += missed
                        continue
                    started = time.perf_counter()
                    runs[method] += classifiers[method].run(part)
                    spent = time.perf_counter() - started
                    seconds[method] += spent
                    chunk_rates[method].append(len(part) / spent)
                say(
                    f"{first + len(part)}/{count}: baseline {len(base_labels) / base_s:.1f}/s, "
                    + ", ".join(f"{k}/call {len(runs[k]) / seconds[k]:.1f}/s" for k in sizes)
                )
            say("hearth: rerun…")
            again = classifiers[1].run(texts)
            stats = classifiers[1].stats
            say("hearth: the first 200 in reversed order…")
            order = list(range(min(200, len(texts))))[::-1]
            shuffled = classifiers[1].run([texts[i] for i in order])
        finally:
            client.shutdown()
    llm.close()

    first_run = runs[1]
    labels = [r.label for r in first_run]
    reversed_labels = [""] * len(order)
    for position, result in enumerate(shuffled):
        reversed_labels[order[position]] = result.label

    def paired_ratio(method: int) -> float:
        """Median over chunks of (method's items/s) / (baseline's items/s), same chunk."""
        pairs = zip(chunk_rates[method], chunk_rates[0], strict=True)
        return statistics.median(rate / base for rate, base in pairs)

    return {
        "count": count,
        "item_tokens": statistics.mean(item_tokens),
        "instruction_tokens": shared,
        "baseline_s": base_s,
        "baseline_items_s": count / base_s,
        "baseline_accuracy": accuracy(base_labels, data.answers),
        "baseline_unmatched": unmatched,
        "hearth_s": seconds[1],
        "hearth_items_s": count / seconds[1],
        "hearth_accuracy": accuracy(labels, data.answers),
        "rerun_identical": labels == [r.label for r in again],
        "order_identical": labels[: len(order)] == reversed_labels,
        "reversed_count": len(order),
        "paired_ratio": paired_ratio(1),
        "evaluated_per_item": stats.evaluated_tokens / stats.done,
        "prompt_per_item": stats.prompt_tokens / stats.done,
        "item_tokens_engine": stats.item_tokens / stats.done,
        "ece": expected_calibration_error(
            [r.confidence or 0.0 for r in first_run],
            [r.label == a for r, a in zip(first_run, data.answers, strict=True)],
        ),
        "batched": {
            size: {
                "items_s": count / seconds[size],
                "paired_ratio": paired_ratio(size),
                "same_labels": sum(
                    r.label == lab for r, lab in zip(runs[size], labels, strict=True)
                ),
                "accuracy": accuracy([r.label for r in runs[size]], data.answers),
            }
            for size in batch_sizes
        },
    }


def report(result: dict[str, Any]) -> str:
    ratio = result["hearth_items_s"] / result["baseline_items_s"]
    lines = [
        f"Run: {dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{THREADS} threads, starter model (SmolLM2-135M-Instruct Q4_1), CPU only.",
        "",
        f"{result['count']} items (mean {result['item_tokens']:.1f} tokens), 5 labels, "
        f"instruction and examples {result['instruction_tokens']} tokens.",
        "",
        "| Method | items/s (total) | vs baseline (total) | vs baseline (median of "
        "chunks) | accuracy |",
        "|---|---:|---:|---:|---:|",
        f"| Baseline: create_chat_completion per item | {result['baseline_items_s']:.2f} | "
        f"1.00x | 1.00x | {result['baseline_accuracy']:.1%} |",
        f"| Hearth score job, 1 item per decode call | {result['hearth_items_s']:.2f} | "
        f"{ratio:.2f}x | {result['paired_ratio']:.2f}x | {result['hearth_accuracy']:.1%} |",
    ]
    for size, row in sorted(result["batched"].items()):
        lines.append(
            f"| Hearth score job, {size} items per decode call | {row['items_s']:.2f} | "
            f"{row['items_s'] / result['baseline_items_s']:.2f}x | {row['paired_ratio']:.2f}x | "
            f"{row['accuracy']:.1%} |"
        )
    lines += [
        "",
        f"- Prompt tokens evaluated per item: {result['prompt_per_item']:.1f} "
        f"for items of {result['item_tokens_engine']:.1f} tokens "
        f"({result['prompt_per_item'] / result['item_tokens_engine']:.3f}x: the item and "
        "the template's tail after it); with the label tokens after their first "
        f"(scored in the same pass): {result['evaluated_per_item']:.1f} "
        f"({result['evaluated_per_item'] / result['item_tokens_engine']:.3f}x).",
        f"- Identical labels on a rerun of all {result['count']}: "
        f"{'yes' if result['rerun_identical'] else 'NO'}; the first "
        f"{result['reversed_count']} in reversed order: "
        f"{'yes' if result['order_identical'] else 'NO'}.",
        f"- Baseline answers that named no label: {result['baseline_unmatched']}.",
        f"- Expected calibration error of Hearth's confidences: {result['ece']:.3f}.",
    ]
    for size, row in sorted(result["batched"].items()):
        lines.append(
            f"- {size} items per decode call: {row['same_labels']}/{result['count']} labels "
            "equal to the one-item run."
        )
    return "\n".join(lines)


# -- prompt variants ----------------------------------------------------------------------


def variants(count: int) -> str:
    path = starter_model_path()
    assert path is not None
    sets = [topic_set(count, sentences=2, seed=3), sentiment_set(count, seed=5)]
    rows = [
        "| Set | Method | Calibrated | Examples | accuracy | ECE |",
        "|---|---|---|---|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        client = engine(path, Path(tmp) / "engine.log")
        try:
            for data in sets:
                labels = tuple(
                    Label(n, d) for n, d in zip(data.labels, data.descriptions, strict=True)
                )
                pool = TOPICS if data.name == "topic" else None
                for method in ("names", "letters"):
                    for calibrate in (False, True):
                        for shots in (False, True):
                            examples: tuple[Example, ...] = ()
                            if shots:
                                examples = _examples(data, pool)
                            label_set = LabelSet(labels, examples)
                            options = ClassifyOptions(method=method, calibrate=calibrate)
                            results = Classifier(EngineScorer(client), label_set, options).run(
                                list(data.texts)
                            )
                            predicted = [r.label for r in results]
                            correct = [p == a for p, a in zip(predicted, data.answers, strict=True)]
                            ece = expected_calibration_error(
                                [r.confidence or 0.0 for r in results], correct
                            )
                            rows.append(
                                f"| {data.name} | {method} | {'yes' if calibrate else 'no'} | "
                                f"{'yes' if shots else 'no'} | "
                                f"{accuracy(predicted, data.answers):.1%} | {ece:.3f} |"
                            )
                            say(rows[-1])
        finally:
            client.shutdown()
    return "\n".join(rows)


def _examples(data: LabelledSet, pool: dict[str, tuple[str, ...]] | None) -> tuple[Example, ...]:
    from tests.labelled_sets import SENTIMENT

    source = pool if pool is not None else SENTIMENT
    # One example per label, phrased differently from the test items' sentences.
    return tuple(Example(sentences[0][:60] + "…", label) for label, sentences in source.items())


def write_docs(text: str) -> None:
    doc = DOCS_PATH.read_text(encoding="utf-8")
    start, end = doc.find(RESULTS_START), doc.find(RESULTS_END)
    if start < 0 or end < 0:
        raise SystemExit("docs/benchmarks.md has no classify results markers")
    doc = doc[: start + len(RESULTS_START)] + "\n" + text + "\n" + doc[end:]
    DOCS_PATH.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 items")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--batch", type=int, nargs="*", default=[4, 8])
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.variants:
        print(variants(40 if args.quick else 80))
        return
    count = 60 if args.quick else args.items
    text = report(main_bench(count, args.batch))
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
