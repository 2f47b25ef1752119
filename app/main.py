"""Composition root: builds Hearth's services once and wires them together.

Qt is imported only when the GUI is started, so the command line stays light.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.library import ModelLibrary
from app.core.logs import configure_logging
from app.core.paths import Paths
from app.core.policy import Policy, load_policy, require_remote
from app.core.remote import RemoteHttp, RemoteTarget
from app.core.secrets import SecretStore
from app.core.settings import Settings, SettingsStore, apply_policy
from app.engine.backends import create_llama_backend
from app.engine.client import EngineClient
from app.engine.process_transport import ProcessTransport
from app.engine.remote_transport import RemoteTransport
from app.engine.thread_transport import ThreadTransport
from app.engine.transport import Transport

log = logging.getLogger(__name__)

EngineMode = Literal["process", "thread"]


@dataclass
class Services:
    paths: Paths
    settings_store: SettingsStore
    settings: Settings
    """The effective settings: the user's, with the policy's locked values applied."""
    library: ModelLibrary
    policy: Policy
    secrets: SecretStore

    def new_engine(self, mode: EngineMode = "process") -> EngineClient:
        """An engine client; ``process`` isolates crashes, ``thread`` is for debugging."""
        paths = self.paths

        def transport() -> Transport:
            if mode == "thread":
                return ThreadTransport(create_llama_backend)
            return ProcessTransport(create_llama_backend, paths.engine_log)

        return EngineClient(transport)

    def new_remote_engine(self, target: RemoteTarget) -> EngineClient:
        """An engine client whose models run on a remote OpenAI-compatible server."""
        require_remote(self.policy, target.endpoint.base_url)
        secrets = self.secrets
        return EngineClient(lambda: RemoteTransport(RemoteHttp(target.endpoint, secrets)))


def build_services(paths: Paths | None = None) -> Services:
    paths = (paths or Paths.from_environment()).ensure()
    configure_logging(paths.app_log)
    store = SettingsStore(paths.settings_file)
    settings = store.load()
    if store.warning:
        log.warning(store.warning)
    policy = load_policy()
    for problem in policy.problems:
        log.warning("policy: %s", problem)
    settings, policy = apply_policy(settings, policy)
    models_dir = (
        Path(settings.storage.models_dir).expanduser() if settings.storage.models_dir else None
    )
    return Services(
        paths=paths,
        settings_store=store,
        settings=settings,
        library=ModelLibrary(
            models_dir or paths.models_dir,
            extra_folders=[Path(f).expanduser() for f in settings.storage.extra_model_folders],
            shared_folders=policy.shared_folders,
            discover_other_tools=settings.storage.discover_other_tools,
            hidden=settings.storage.hidden_models,
        ),
        policy=policy,
        secrets=SecretStore(),
    )


def run_gui(services: Services) -> int:
    """Open the main window (imports Qt only now)."""
    from app.ui.app import run_gui as start

    return start(services)
