"""Typed user settings, saved atomically; a broken file never stops Hearth."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.options import AUTO, LoadOptions

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    default_model: str | None = None
    context_length: int = Field(default=4096, ge=16, le=1_048_576)
    gpu_layers: int = Field(default=AUTO, ge=AUTO)
    threads: int | None = Field(default=None, ge=1, le=1024)
    batch_size: int = Field(default=512, ge=1, le=65_536)
    flash_attention: bool = False
    use_mmap: bool = True

    def load_options(self, path: str) -> LoadOptions:
        return LoadOptions(
            path=path,
            context_length=self.context_length,
            gpu_layers=self.gpu_layers,
            threads=self.threads,
            batch_size=self.batch_size,
            flash_attention=self.flash_attention,
            use_mmap=self.use_mmap,
        )


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
            return Settings.model_validate(json.loads(raw))
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
