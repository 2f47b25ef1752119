"""Typed user settings, saved atomically; a broken file never stops Hearth."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.assistants import Assistant, all_assistants
from app.core.errors import HearthError
from app.core.options import AUTO, LoadOptions, SamplingOptions
from app.core.policy import Policy

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

KvCacheType = Literal["f16", "q8_0", "q4_0"]
ThemeChoice = Literal["system", "light", "dark"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ModelDefaults(_Section):
    """How models load (``hearth config`` keys ``model.*``)."""

    context_length: int = Field(default=4096, ge=16, le=1_048_576)
    gpu_layers: int = Field(default=AUTO, ge=AUTO)
    """-2 auto (from the build and the fit estimate), -1 all, 0 none, N layers."""
    threads: int | None = Field(default=None, ge=1, le=1024)
    batch_size: int = Field(default=512, ge=1, le=65_536)
    flash_attention: bool = False
    kv_cache_type: KvCacheType = "f16"
    use_mmap: bool = True
    use_mlock: bool = False


class SamplingDefaults(_Section):
    """How models answer (``sampling.*``)."""

    temperature: float = Field(default=0.7, ge=0.0, le=5.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0, le=100_000)
    min_p: float = Field(default=0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(default=1.1, gt=0.0, le=10.0)
    max_tokens: int = Field(default=1024, ge=1, le=1_000_000)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class Appearance(_Section):
    theme: ThemeChoice = "system"
    font_size: int = Field(default=0, ge=0, le=48)
    """0 follows the system font size."""


class Storage(_Section):
    models_dir: str | None = None
    """None: the models folder in Hearth's data directory."""
    extra_model_folders: list[str] = Field(default_factory=list)
    discover_other_tools: bool = True
    """List models from the Hugging Face cache, LM Studio, GPT4All, Jan and Ollama."""
    hidden_models: list[str] = Field(default_factory=list)
    """Paths of models removed from the list; files outside the models folder stay."""


class ApiServer(_Section):
    """The window's built-in OpenAI-compatible server (``api.*``); off by default."""

    enabled: bool = False
    port: int = Field(default=8080, ge=1, le=65_535)
    allow_network: bool = False
    """Listen on all interfaces, not only 127.0.0.1 (needs an API key)."""
    cors_origins: list[str] = Field(default_factory=list)


class RemoteEndpointEntry(_Section):
    """An OpenAI-compatible server Hearth can use instead of a local model."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_url: str = Field(min_length=8, max_length=500)
    default_model: str | None = None
    api_key_file: str | None = None
    """A file holding the key, for machines without a keyring (else the keyring)."""
    timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)


class AssistantEntry(_Section):
    name: str = Field(min_length=1, max_length=80)
    system_prompt: str = Field(default="", max_length=20_000)


class Settings(_Section):
    schema_version: int = SCHEMA_VERSION
    default_model: str | None = None
    default_assistant: str | None = None
    model: ModelDefaults = Field(default_factory=ModelDefaults)
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)
    appearance: Appearance = Field(default_factory=Appearance)
    storage: Storage = Field(default_factory=Storage)
    api: ApiServer = Field(default_factory=ApiServer)
    assistants: list[AssistantEntry] = Field(default_factory=list)
    """The user's own assistants (the built-ins are not stored)."""
    remotes: list[RemoteEndpointEntry] = Field(default_factory=list)
    model_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per model id: ``model.*`` and ``sampling.*`` keys that differ for that model."""

    def for_model(self, model_id: str | None) -> Settings:
        """The settings one model uses: these, with that model's overrides applied.

        An override that no longer validates (say, after an upgrade) is skipped rather
        than stopping the model from loading.
        """
        overrides = self.model_overrides.get(model_id or "", {})
        effective = self
        for key, value in overrides.items():
            try:
                effective = with_setting(effective, key, value)
            except HearthError:
                log.warning("ignoring the override %s for %s", key, model_id)
        return effective

    def assistant_list(self) -> list[Assistant]:
        custom = [Assistant(a.name, a.system_prompt) for a in self.assistants]
        return all_assistants(custom)

    def load_options(self, path: str) -> LoadOptions:
        m = self.model
        return LoadOptions(
            path=path,
            context_length=m.context_length,
            gpu_layers=m.gpu_layers,
            threads=m.threads,
            batch_size=m.batch_size,
            flash_attention=m.flash_attention,
            use_mmap=m.use_mmap,
            use_mlock=m.use_mlock,
            kv_cache_type=m.kv_cache_type,
        )

    def sampling_options(self) -> SamplingOptions:
        s = self.sampling
        return SamplingOptions(
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            min_p=s.min_p,
            repeat_penalty=s.repeat_penalty,
            seed=s.seed,
            max_tokens=s.max_tokens,
        )


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the load options at the top level."""
    model = {
        key: data.pop(key)
        for key in (
            "context_length",
            "gpu_layers",
            "threads",
            "batch_size",
            "flash_attention",
            "use_mmap",
        )
        if key in data
    }
    data.setdefault("model", {}).update(model)
    return data


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}
"""From schema version N to N + 1."""


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise ValueError(f"written by a newer Hearth (settings schema {version})")
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](dict(data))
        version += 1
        data["schema_version"] = version
    return data


# -- keys for `hearth config` ------------------------------------------------------------


OVERRIDABLE = ("model.", "sampling.")
"""Prefixes of the keys a model may override."""


def with_model_override(settings: Settings, model_id: str, key: str, value: Any) -> Settings:
    """``settings`` with ``key`` overridden for one model (validated like any setting)."""
    if not key.startswith(OVERRIDABLE):
        raise InvalidSetting(key, "only model.* and sampling.* settings can differ per model")
    checked = with_setting(settings.for_model(model_id), key, value)
    overrides = {k: dict(v) for k, v in settings.model_overrides.items()}
    overrides.setdefault(model_id, {})[key] = get_setting(checked, key)
    return settings.model_copy(update={"model_overrides": overrides})


def without_model_override(settings: Settings, model_id: str, key: str) -> Settings:
    overrides = {k: dict(v) for k, v in settings.model_overrides.items()}
    overrides.get(model_id, {}).pop(key, None)
    overrides = {k: v for k, v in overrides.items() if v}
    return settings.model_copy(update={"model_overrides": overrides})


def setting_keys() -> list[str]:
    """Every settable key, dotted (``sampling.temperature``), in a stable order."""
    keys: list[str] = []
    for name, field in Settings.model_fields.items():
        if name in ("schema_version", "model_overrides"):
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(f"{name}.{sub}" for sub in annotation.model_fields)
        else:
            keys.append(name)
    return keys


class UnknownSetting(HearthError):
    def __init__(self, key: str) -> None:
        super().__init__(f"There is no setting '{key}'.", "Run 'hearth config list' to see them.")


class InvalidSetting(HearthError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"Cannot set {key}: {reason}.")


def get_setting(settings: Settings, key: str) -> Any:
    if key not in setting_keys():
        raise UnknownSetting(key)
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def with_setting(settings: Settings, key: str, value: Any) -> Settings:
    """A copy of ``settings`` with ``key`` set, validated (text values are parsed)."""
    if key not in setting_keys():
        raise UnknownSetting(key)
    data = settings.model_dump()
    section, _, name = key.partition(".")
    target = data[section] if name else data
    field = name or section
    if isinstance(value, str):
        value = _parse_text(value)
    target[field] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidSetting(key, str(first.get("msg", "invalid value")).lower()) from exc


def apply_policy(settings: Settings, policy: Policy) -> tuple[Settings, Policy]:
    """The user's settings with the policy's locked values; bad locks recorded on the policy.

    A lock naming no setting, or holding a value the setting refuses, keeps that key at
    its default (locked) and adds a problem to the policy for the user to see.
    """
    defaults = Settings()
    # A per-model override must not get around a lock.
    overrides = {
        model: {k: v for k, v in keys.items() if not policy.is_locked(k)}
        for model, keys in settings.model_overrides.items()
    }
    settings = settings.model_copy(update={"model_overrides": overrides})
    for key, value in policy.locks.items():
        try:
            settings = with_setting(settings, key, value)
        except (UnknownSetting, InvalidSetting) as error:
            policy = policy.with_bad_lock(key, error.message)
            if key in setting_keys():
                settings = with_setting(settings, key, get_setting(defaults, key))
    return settings, policy


def _parse_text(text: str) -> Any:
    """``hearth config set`` values: JSON when it parses (numbers, true, null, lists)."""
    lowered = text.strip().lower()
    if lowered in ("none", "null", "default", "auto"):
        return None if lowered != "auto" else AUTO
    try:
        return json.loads(text)
    except ValueError:
        return text


class SettingsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.warning = ""
        """Set when the saved file could not be read and defaults are in use."""

    def load(self) -> Settings:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            self.warning = f"Could not read {self.path} ({exc.strerror}); using defaults."
            return Settings()
        try:
            loaded = json.loads(raw)
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            return Settings.model_validate(migrate(loaded))
        except (ValueError, ValidationError) as exc:
            backup = self.path.with_suffix(self.path.suffix + ".bak")
            try:
                os.replace(self.path, backup)
            except OSError:
                backup = self.path
            self.warning = (
                f"Your settings file was damaged and has been kept as {backup}; "
                "Hearth started with default settings."
            )
            log.warning("settings file unreadable: %s", str(exc)[:300])
            return Settings()

    def save(self, settings: Settings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = settings.model_dump_json(indent=2)
        fd, temp = tempfile.mkstemp(prefix=".settings-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
