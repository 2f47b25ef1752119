"""The documents' token estimate is cautious against a real tokenizer (the starter's)."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import pytest

from app.docs.grounding import estimate_tokens

pytestmark = pytest.mark.integration

SAMPLES = {
    "English": "Visitors park in the north car park and sign in at reception. " * 20,
    "German": "Besucher parken auf dem Nordparkplatz und melden sich am Empfang an. " * 20,
    "Chinese": "访客请在北侧停车场停车，并在前台登记。会议室位于三楼。" * 20,  # noqa: RUF001
    "Russian": "Посетители паркуются на северной стоянке и регистрируются на ресепшене. " * 20,
    "CSV": "id: 1042; amount: 250.00; date: 2025-03-14; account: DE-7731-02;\n" * 20,
}


@pytest.mark.parametrize("language", list(SAMPLES))
def test_the_estimate_never_counts_fewer_tokens_than_the_model_uses(
    language: str, starter_path: Path
):
    tokenizer = llama_cpp.Llama(str(starter_path), vocab_only=True, verbose=False)
    text = SAMPLES[language]
    real = len(tokenizer.tokenize(text.encode("utf-8"), add_bos=False))
    estimate = estimate_tokens(text)
    assert estimate >= real, f"{language}: estimated {estimate}, real {real}"
    assert estimate <= 2.5 * real, f"{language}: so cautious it wastes the context"
