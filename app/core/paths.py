"""Where Hearth keeps its files.

Everything comes from platformdirs, and ``HEARTH_HOME`` moves it all under one folder
(tests, portable installs). Directories are created on first use, not on import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "hearth"
HOME_ENV = "HEARTH_HOME"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    models_dir: Path

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV, "").strip()
        if home:
            root = Path(home).expanduser().resolve()
            return cls(
                config_dir=root / "config",
                data_dir=root / "data",
                cache_dir=root / "cache",
                log_dir=root / "logs",
                models_dir=root / "models",
            )
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=data,
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            models_dir=data / "models",
        )

    def ensure(self) -> Paths:
        for folder in (
            self.config_dir,
            self.data_dir,
            self.cache_dir,
            self.log_dir,
            self.models_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def engine_log(self) -> Path:
        """Native llama.cpp output of the engine child process (stderr redirected here)."""
        return self.log_dir / "engine.log"

    @property
    def app_log(self) -> Path:
        return self.log_dir / "hearth.log"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"
