"""The curated catalog in resources/: the families users ask for, licenses flagged."""

from __future__ import annotations

import json

import pytest

from app.core.catalog import CatalogError, catalog_entry_for, load_catalog


def test_catalog_covers_the_families_and_purposes():
    entries = load_catalog()
    families = {e.family for e in entries}
    for family in (
        "Llama 3", "Mistral", "Mixtral", "Phi-3", "Gemma", "Qwen", "Falcon", "OLMo", "Zephyr",
        "OpenHermes", "SOLAR", "Yi", "DeepSeek", "StarCoder2", "Code Llama", "SmolLM2",
    ):  # fmt: skip
        assert family in families
    assert {p for e in entries for p in e.purposes} == {"chat", "code", "multilingual", "small"}
    assert len({e.id for e in entries}) == len(entries)
    for entry in entries:
        assert entry.parameters > 100_000_000 and entry.context_length >= 2048


def test_restrictive_and_custom_licenses_are_flagged():
    by_family = {}
    for entry in load_catalog():
        by_family.setdefault(entry.family, entry)
    assert by_family["Llama 3"].flagged and "Llama 3" in by_family["Llama 3"].license_note
    assert by_family["SOLAR"].flagged and "commercial" in by_family["SOLAR"].license_note
    assert not by_family["Mistral"].flagged
    assert not by_family["Phi-3"].flagged
    assert all(e.license_note for e in load_catalog() if e.flagged)
    assert catalog_entry_for("thebloke/mistral-7b-instruct-v0.2-gguf", load_catalog())


def test_damaged_catalog_is_a_clear_error(tmp_path):
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps({"permissive_licenses": [], "models": [{"id": "x"}]}))
    with pytest.raises(CatalogError, match="damaged"):
        load_catalog(bad)
