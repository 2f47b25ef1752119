"""Typed settings: sections, schema migration, and the keys `hearth config` uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.options import AUTO
from app.core.settings import (
    SCHEMA_VERSION,
    InvalidSetting,
    Settings,
    SettingsStore,
    UnknownSetting,
    get_setting,
    setting_keys,
    with_setting,
)


def test_a_version_1_file_is_migrated_and_keeps_its_values(tmp_path: Path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"default_model": "tiny", "context_length": 8192, "threads": 4}))
    settings = SettingsStore(path).load()
    assert settings.schema_version == SCHEMA_VERSION
    assert settings.default_model == "tiny"
    assert settings.model.context_length == 8192 and settings.model.threads == 4


def test_a_file_from_a_newer_hearth_is_kept_aside_not_misread(tmp_path: Path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "default_model": "x"}))
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "damaged" in store.warning or "newer" in store.warning
    assert (tmp_path / "settings.json.bak").exists()


def test_nested_settings_round_trip(tmp_path: Path):
    store = SettingsStore(tmp_path / "settings.json")
    changed = with_setting(Settings(), "sampling.temperature", "0.2")
    changed = with_setting(changed, "model.gpu_layers", "auto")
    changed = with_setting(changed, "storage.extra_model_folders", '["/srv/models"]')
    store.save(changed)
    again = store.load()
    assert again.sampling.temperature == 0.2
    assert again.model.gpu_layers == AUTO
    assert again.storage.extra_model_folders == ["/srv/models"]
    assert again.sampling_options().temperature == 0.2
    assert again.load_options("/m.gguf").gpu_layers == AUTO


def test_keys_cover_every_section():
    keys = setting_keys()
    for key in (
        "default_model",
        "model.context_length",
        "model.kv_cache_type",
        "sampling.top_p",
        "appearance.theme",
        "storage.models_dir",
    ):
        assert key in keys
    assert "schema_version" not in keys
    assert get_setting(Settings(), "sampling.max_tokens") == 1024


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("sampling.temperature", "9", "less than or equal to 5"),
        ("model.context_length", "ten", "valid integer"),
        ("appearance.theme", "pink", "'system', 'light' or 'dark'"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(key: str, value: str, reason: str):
    with pytest.raises(InvalidSetting) as caught:
        with_setting(Settings(), key, value)
    assert key in str(caught.value) and reason in str(caught.value)


def test_unknown_keys_are_refused():
    with pytest.raises(UnknownSetting) as caught:
        with_setting(Settings(), "sampling.warmth", "1")
    assert "hearth config list" in caught.value.user_text()


def test_overrides_change_only_their_model_and_bad_ones_are_skipped():
    from app.core.settings import with_model_override

    settings = with_model_override(Settings(), "big-model", "model.context_length", "16384")
    settings = with_model_override(settings, "big-model", "sampling.top_k", 10)
    assert settings.for_model("big-model").load_options("/m").context_length == 16384
    assert settings.for_model("big-model").sampling_options().top_k == 10
    assert settings.for_model("other").load_options("/m").context_length == 4096
    broken = settings.model_copy(
        update={"model_overrides": {"big-model": {"model.context_length": -1}}}
    )
    assert broken.for_model("big-model").model.context_length == 4096
