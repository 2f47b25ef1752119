"""Chat logic for the window: engine jobs, history writes, and what the view shows.

The user's message is written before generation starts; the reply row is created
when it starts, flushed about once a second while it streams, and finalised with its
finish reason. A crash of the engine finalises the reply as ``crashed`` with the text
received so far. Events of a job that is not the active one are ignored.

The chat runs on the window's local engine or on a remote server's (one engine client
per endpoint, made by the factory the window passes in); one conversation may switch
between them. Job ids are per engine client, so every event is matched on its engine
as well as its job id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.core.errors import HearthError
from app.core.fingerprint import model_fingerprint
from app.core.library import ModelEntry, ModelLibrary, require_model_permitted
from app.core.options import ChatMessage, ChatRequest
from app.core.policy import NO_POLICY, Policy
from app.core.remote import RemoteListing, RemoteTarget, find_endpoint
from app.core.settings import RemoteEndpointEntry, Settings
from app.docs.embedding import EngineEmbedder
from app.docs.grounding import Grounding, ground
from app.docs.indexer import Indexer, IndexReport, scan_folder
from app.docs.retrieval import Retriever
from app.engine.client import EngineClient
from app.engine.protocol import JobFinished, LoadedModel
from app.store.documents import Collection, DocumentStore, Passage, Source
from app.store.errors import NotFound
from app.store.export import export_json, export_markdown
from app.store.history import HistoryStore
from app.ui.background import run_in_background
from app.ui.bridges.engine_bridge import EngineBridge

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


@dataclass
class _ActiveReply:
    job_id: int
    message_id: int
    conversation_id: int
    started: float
    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    last_flush: float = 0.0
    first_token_at: float = 0.0
    engine: EngineClient | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ChatController(QObject):
    conversationsChanged = Signal()
    threadReset = Signal(int, list)  # conversation id (0 = none), messages
    messageAdded = Signal(object)
    replyStarted = Signal(object)
    replyText = Signal(int, str)
    replyFinished = Signal(object)
    busyChanged = Signal(bool)
    engineProblem = Signal(str)
    loadProgress = Signal(float)
    modelLoaded = Signal(object)  # LoadedModel
    modelFailed = Signal(str)
    speedChanged = Signal(float)
    notice = Signal(str)
    documentsChanged = Signal()  # the current conversation's collections or attachments
    attachProgress = Signal(str)  # what is being read ("" when done)

    def __init__(
        self,
        engine: EngineClient,
        history: HistoryStore,
        library: ModelLibrary,
        settings: Settings,
        *,
        parent: QObject | None = None,
        policy: Policy = NO_POLICY,
        remote_engines: Callable[[RemoteTarget], EngineClient] | None = None,
        documents: DocumentStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.documents = documents
        self._preparing = False
        self._stopped = False
        self._attaching = 0
        self._sources: dict[int, list[Source]] = {}
        self._pending_collections: list[int] = []
        self.policy = policy
        self.engine = engine
        """The engine the chat uses now: the local one or a remote endpoint's."""
        self.local_engine = engine
        self.history = history
        self.library = library
        self.settings = settings
        self.bridge = self._connect(engine)
        self._remote_factory = remote_engines
        self._remotes: dict[str, tuple[RemoteEndpointEntry, EngineClient, EngineBridge]] = {}
        self._retired: list[tuple[EngineClient, EngineBridge]] = []
        self._parked: dict[int, tuple[str | None, LoadedModel | None]] = {}
        self._local_ids: dict[str, str] = {}
        self.current_id: int | None = None
        self.entry: ModelEntry | RemoteListing | None = None
        self.loaded: LoadedModel | None = None
        self._load_job: int | None = None
        self._loading_path: str | None = None
        self._active: _ActiveReply | None = None
        self._fingerprints: dict[str, str] = {}

    # -- models --------------------------------------------------------------------------

    def _connect(self, engine: EngineClient) -> EngineBridge:
        bridge = EngineBridge(engine, self)
        bridge.textBatch.connect(self._on_text)
        bridge.jobFinished.connect(self._on_finished)
        bridge.loadProgress.connect(self._on_load_progress)
        bridge.modelLoaded.connect(self._on_model_loaded)
        return bridge

    def _event_engine(self) -> EngineClient:
        """The engine whose event the running slot handles (job ids are per engine)."""
        bridge = self.sender()
        return bridge.client if isinstance(bridge, EngineBridge) else self.engine

    def choose_model(self, entry: ModelEntry | RemoteListing) -> None:
        """Select a model; it loads once the machine policy is known to allow it."""
        if isinstance(entry, RemoteListing):
            self._choose_remote(entry)
            return
        policy = self.policy

        def check() -> None:
            require_model_permitted(entry, policy)  # may hash the file: off the GUI thread

        def checked(_result, error) -> None:
            if error is not None:
                message = error.user_text() if isinstance(error, HearthError) else str(error)
                self.modelFailed.emit(message)
                return
            switched = self._use_engine(self.local_engine)
            self.entry = entry
            if self.current_id is not None:
                self.history.set_model_ref(self.current_id, entry.id)
            self._ensure_loaded()
            self._show_parked_model(switched)

        if not policy.models_restricted:
            checked(None, None)
        else:
            run_in_background(check, checked, self)

    def _choose_remote(self, listing: RemoteListing) -> None:
        try:
            engine = self._remote_engine(listing)
        except HearthError as error:
            self.modelFailed.emit(error.user_text())
            return
        switched = self._use_engine(engine)
        self.entry = listing
        if self.current_id is not None:
            self.history.set_model_ref(self.current_id, listing.id)
        self._ensure_loaded()
        self._show_parked_model(switched)

    def _remote_engine(self, listing: RemoteListing) -> EngineClient:
        """The endpoint's engine client; a new one when its settings changed."""
        if self._remote_factory is None or listing.model is None:
            raise HearthError("Remote models cannot be used in this window.")
        endpoint = find_endpoint(self.settings, listing.endpoint)
        known = self._remotes.get(endpoint.name)
        if known is not None:
            if known[0] == endpoint:
                return known[1]
            self._retire(endpoint.name)
        engine = self._remote_factory(RemoteTarget(endpoint, listing.model))
        self._remotes[endpoint.name] = (endpoint, engine, self._connect(engine))
        return engine

    def _retire(self, name: str) -> None:
        _endpoint, engine, bridge = self._remotes.pop(name)
        self._parked.pop(id(engine), None)
        if engine is self.engine or engine.queue_depth:
            self._retired.append((engine, bridge))  # still in use: closed at exit
            return
        bridge.close()
        # Its HTTP connections and worker thread go now, off the GUI thread.
        threading.Thread(target=engine.shutdown, name="hearth-retire", daemon=True).start()

    def forget_remote_engines(self) -> None:
        """After the settings changed (an endpoint's key, say): new clients on next use."""
        for name in list(self._remotes):
            self._retire(name)
        if isinstance(self.entry, RemoteListing):
            self._choose_remote(self.entry)

    def _use_engine(self, engine: EngineClient) -> bool:
        """Make ``engine`` the chat's; the other keeps its model (switching back is free)."""
        if engine is self.engine:
            return False
        # A load still under way is not trusted: going back to that engine loads again.
        loading = None if self._load_job is not None else self._loading_path
        self._parked[id(self.engine)] = (loading, self.loaded)
        self.engine = engine
        self._load_job = None
        self._loading_path, self.loaded = self._parked.pop(id(engine), (None, None))
        return True

    def _show_parked_model(self, switched: bool) -> None:
        entry, loaded = self.entry, self.loaded
        if not switched or entry is None or loaded is None:
            return
        if self._loading_path == _load_path(entry):  # nothing to load: show it again
            self.modelLoaded.emit(loaded)

    def local_model_id(self) -> str | None:
        """The id of the model the local engine has loaded (the API server's; any thread)."""
        path = self.local_engine.model_path  # after a crash: the one the next job reloads
        return None if path is None else self._local_ids.get(path)

    def reload_model(self) -> None:
        self.loaded = None
        self._loading_path = None
        self._ensure_loaded()

    def _ensure_loaded(self) -> None:
        entry = self.entry
        if entry is None:
            return
        path = _load_path(entry)
        if self._loading_path == path:
            return  # loaded, or a load of it is queued
        if isinstance(entry, ModelEntry):
            self._local_ids[path] = entry.id
        try:
            job = self.engine.load(self.settings.for_model(entry.id).load_options(path))
        except HearthError as error:
            self.modelFailed.emit(error.user_text())
            return
        self._load_job = job.id
        self._loading_path = path
        self.loadProgress.emit(0.0)

    @Slot(int, float)
    def _on_load_progress(self, job_id: int, fraction: float) -> None:
        if job_id == self._load_job and self._event_engine() is self.engine:
            self.loadProgress.emit(fraction)

    @Slot(int, object)
    def _on_model_loaded(self, job_id: int, model: LoadedModel) -> None:
        if self._event_engine() is not self.engine:
            return
        # Ours, or the engine's own reload after a crash (when we are not loading).
        if job_id == self._load_job or self._load_job is None:
            self.loaded = model
            self.modelLoaded.emit(model)

    # -- conversations -------------------------------------------------------------------

    def new_conversation(self) -> None:
        self.current_id = None
        self._pending_collections = []
        self.threadReset.emit(0, [])

    def open_conversation(self, conversation_id: int) -> None:
        try:
            self.history.get_conversation(conversation_id)
        except NotFound:
            self.notice.emit("That conversation no longer exists.")
            return
        self.current_id = conversation_id
        self.threadReset.emit(conversation_id, self._thread_for_view(conversation_id))

    def current_conversation(self):
        if self.current_id is None:
            return None
        try:
            return self.history.get_conversation(self.current_id)
        except NotFound:
            return None

    def set_system_prompt(self, text: str) -> None:
        if self.current_id is not None:
            self.history.set_system_prompt(self.current_id, text)

    def rename(self, conversation_id: int, title: str) -> None:
        self.history.rename(conversation_id, title)
        self.conversationsChanged.emit()

    def delete(self, conversation_id: int) -> str:
        title = self.history.get_conversation(conversation_id).title
        if self._active is not None and self._active.conversation_id == conversation_id:
            self.stop()
        self.history.delete_conversation(conversation_id)
        if conversation_id == self.current_id:
            self.new_conversation()
        self.conversationsChanged.emit()
        return title

    def restore(self, conversation_id: int) -> None:
        self.history.restore_conversation(conversation_id)
        self.conversationsChanged.emit()

    def export(self, conversation_id: int, path: Path) -> None:
        if path.suffix.lower() == ".json":
            text = json.dumps(
                export_json(self.history, conversation_id, self.documents),
                indent=2,
                ensure_ascii=False,
            )
        else:
            text = export_markdown(self.history, conversation_id, self.documents)
        path.write_text(text, encoding="utf-8")

    def _thread_for_view(self, conversation_id: int) -> list:
        messages = self.history.thread(conversation_id)
        if self.documents is not None:
            self._sources = self.documents.sources_for([m.id for m in messages])
        active = self._active
        if active is None or active.conversation_id != conversation_id:
            return messages
        # The reply still streaming: show what arrived, not only what was flushed.
        return [
            dataclasses.replace(m, content=active.text) if m.id == active.message_id else m
            for m in messages
        ]

    # -- chatting ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._active is not None or self._preparing

    @property
    def active_message_id(self) -> int | None:
        return None if self._active is None else self._active.message_id

    def send(self, text: str, edit_of: int | None = None, system_prompt: str = "") -> bool:
        """Write the user's message, then start the reply. False if nothing was sent."""
        if self.busy or self.entry is None or self.attaching:
            if self.entry is None:
                self.notice.emit("Choose a model first.")
            elif self.attaching:
                self.notice.emit("Wait a moment: the attached files are still being read.")
            return False
        conversation_id = self.current_id
        if conversation_id is None:
            conversation_id = self._create_conversation(system_prompt)
        thread = self.history.thread(conversation_id)
        if edit_of is not None:
            edited = next((m for m in thread if m.id == edit_of), None)
            parent_id = edited.parent_id if edited is not None else None
        else:
            parent_id = thread[-1].id if thread else None
        user = self.history.add_user_message(conversation_id, text, parent_id)
        if edit_of is not None:
            self.threadReset.emit(conversation_id, self.history.thread(conversation_id))
        else:
            self.messageAdded.emit(user)
        self.conversationsChanged.emit()
        self._start_reply(conversation_id, user.id)
        return True

    def regenerate(self, message_id: int) -> None:
        if self.busy or self.current_id is None:
            return
        thread = self.history.thread(self.current_id)
        target = next((m for m in thread if m.id == message_id), None)
        if target is None or target.parent_id is None:
            return
        self._start_reply(self.current_id, target.parent_id, reset_view=True)

    def switch_alternative(self, message_id: int, direction: int) -> None:
        if self.current_id is None or self.busy:
            return
        self.history.switch_alternative(message_id, direction)
        self.threadReset.emit(self.current_id, self.history.thread(self.current_id))

    def stop(self) -> None:
        if self._active is not None:
            (self._active.engine or self.engine).cancel(self._active.job_id)
        elif self._preparing:
            self._stopped = True  # the answer will not start once the search returns

    def _start_reply(self, conversation_id: int, parent_id: int, reset_view: bool = False) -> None:
        entry = self.entry
        assert entry is not None
        self._ensure_loaded()
        system = self.history.get_conversation(conversation_id).system_prompt
        thread = self.history.thread_to(conversation_id, parent_id)
        messages = [ChatMessage("system", system)] if system.strip() else []
        messages += [
            ChatMessage(m.role, m.content)
            for m in thread
            if m.role in ("user", "assistant") and m.content.strip()
        ]
        sampling = self.settings.for_model(entry.id).sampling_options()
        if sampling.seed is None:
            sampling = dataclasses.replace(sampling, seed=random.getrandbits(31))
        collections = self.conversation_collections(conversation_id)
        if not collections or not messages or messages[-1].role != "user":
            self._begin_reply(
                conversation_id,
                parent_id=parent_id,
                messages=messages,
                sampling=sampling,
                reset_view=reset_view,
            )
            return
        # Ask the documents first, off the GUI thread; the reply starts when they answer.
        store = self.documents
        assert store is not None
        question = messages[-1].content
        earlier = [m for m in messages[:-1] if m.role != "system"]
        context_length = (
            self.loaded.context_length
            if self.loaded is not None
            else self.settings.for_model(entry.id).load_options(_load_path(entry)).context_length
        )

        # Vectors stored by the model that answers (hearth docs add --vectors) join in.
        embedder = EngineEmbedder(self.engine, entry.id)

        def retrieve() -> Grounding:
            return ground(
                store,
                Retriever(store, embedder),
                collections,
                question,
                context_length=context_length,
                max_tokens=sampling.max_tokens,
                history=earlier,
                system=system,
            )

        def grounded(result: Grounding | None, error: BaseException | None) -> None:
            self._preparing = False
            if self._stopped:
                self._stopped = False
                reply = self.history.start_reply(conversation_id, parent_id)
                self.history.finish_reply(reply.id, "", "cancelled")
                self.busyChanged.emit(False)
                self.threadReset.emit(conversation_id, self._thread_for_view(conversation_id))
                return
            if result is None:
                text = error.user_text() if isinstance(error, HearthError) else str(error)
                log.warning("retrieval failed: %s", error)
                self._fail_reply(conversation_id, parent_id, text)
                self.busyChanged.emit(False)
                return
            self._begin_reply(
                conversation_id,
                parent_id=parent_id,
                messages=list(result.messages),
                sampling=sampling,
                reset_view=reset_view,
                passages=result.passages,
            )

        self._preparing = True
        self._stopped = False
        self.busyChanged.emit(True)
        run_in_background(retrieve, grounded, self)

    def _fail_reply(self, conversation_id: int, parent_id: int, text: str) -> None:
        reply = self.history.start_reply(conversation_id, parent_id)
        self.history.finish_reply(reply.id, "", "error", error=text)
        self.engineProblem.emit(text)
        self.threadReset.emit(conversation_id, self._thread_for_view(conversation_id))

    def _begin_reply(
        self,
        conversation_id: int,
        *,
        parent_id: int,
        messages: list[ChatMessage],
        sampling,
        reset_view: bool,
        passages: tuple[Passage, ...] = (),
    ) -> None:
        entry = self.entry
        assert entry is not None
        reply = self.history.start_reply(
            conversation_id,
            parent_id,
            **self._model_record(entry),
            sampling_json=json.dumps(dataclasses.asdict(sampling)),
            seed=sampling.seed,
        )
        if passages and self.documents is not None:
            self.documents.save_sources(reply.id, passages)
            self._sources[reply.id] = self.documents.sources(reply.id)
        try:
            job = self.engine.chat(ChatRequest(tuple(messages), sampling))
        except HearthError as error:
            self.history.finish_reply(reply.id, "", "error", error=error.user_text())
            self.engineProblem.emit(error.user_text())
            self.threadReset.emit(conversation_id, self._thread_for_view(conversation_id))
            self.busyChanged.emit(False)
            return
        self._active = _ActiveReply(
            job.id, reply.id, conversation_id, time.monotonic(), engine=self.engine
        )
        self.busyChanged.emit(True)
        if reset_view:
            # The new thread already holds the reply, and the window resumes streaming
            # into it: announcing it again would add a second, orphaned bubble.
            self.threadReset.emit(conversation_id, self._thread_for_view(conversation_id))
        else:
            self.replyStarted.emit(reply)

    # -- documents -----------------------------------------------------------------------

    def sources(self, message_id: int) -> list[Source]:
        """The passages an answer was given (numbered as it cites them)."""
        return self._sources.get(message_id, [])

    def embedder_for(self, model_id: str) -> EngineEmbedder | None:
        """Vectors from the engine, when ``model_id`` is the model loaded now."""
        entry = self.entry
        if not isinstance(entry, ModelEntry) or entry.id != model_id or self.loaded is None:
            return None
        return EngineEmbedder(self.engine, model_id)

    def conversation_collections(self, conversation_id: int | None = None) -> list[Collection]:
        if self.documents is None:
            return []
        cid = self.current_id if conversation_id is None else conversation_id
        if cid is None:
            known = {s.collection.id: s.collection for s in self.documents.list_collections()}
            return [known[i] for i in self._pending_collections if i in known]
        return self.documents.conversation_collections(cid)

    def set_collections(self, collection_ids: list[int]) -> None:
        """Choose the collections the current conversation answers from."""
        if self.documents is None:
            return
        if self.current_id is None:
            self._pending_collections = list(collection_ids)
        else:
            self.documents.set_conversation_collections(self.current_id, collection_ids)
        self.documentsChanged.emit()

    def attached_files(self) -> list[str]:
        if self.documents is None or self.current_id is None:
            return []
        for collection in self.documents.conversation_collections(self.current_id):
            if collection.attachments:
                return self.documents.file_paths(collection.id)
        return []

    @property
    def attaching(self) -> bool:
        return self._attaching > 0

    def attach_files(self, paths: list[Path], system_prompt: str = "") -> None:
        """Read files into the current conversation (started now if it is new)."""
        store = self.documents
        files: list[Path] = []
        for path in paths:  # a dropped folder brings the documents in it
            files.extend(scan_folder(path)[0] if path.is_dir() else [path])
        if store is None or not files:
            if paths and not files:
                self.notice.emit("There is no document Hearth can read there.")
            return
        paths = files
        conversation_id = self.current_id
        if conversation_id is None:
            conversation_id = self._create_conversation(system_prompt)
            self.conversationsChanged.emit()
        collection = store.attachments(conversation_id)
        indexer = Indexer(store)
        self._attaching += 1
        self.attachProgress.emit(f"Reading {paths[0].name}…")

        def work() -> IndexReport:
            return indexer.add_files(
                collection,
                paths,
                lambda state: (
                    self.attachProgress.emit(f"Reading {Path(state.path).name}…")
                    if state.path
                    else None
                ),
            )

        def done(report: IndexReport | None, error: BaseException | None) -> None:
            self._attaching -= 1
            self.attachProgress.emit("")
            if report is None:
                text = error.user_text() if isinstance(error, HearthError) else str(error)
                self.notice.emit(f"The files could not be attached: {text}")
            else:
                wanted = {str(Path(p).resolve()) for p in paths}
                problems = [p for p in report.problems if p.path in wanted]
                if problems:
                    self.notice.emit(
                        "Could not read "
                        + "; ".join(f"{Path(p.path).name}: {p.reason}" for p in problems)
                    )
                else:
                    self.notice.emit(f"Attached {len(paths)} file(s).")
            self.documentsChanged.emit()

        run_in_background(work, done, self)

    def _create_conversation(self, system_prompt: str) -> int:
        entry = self.entry
        conversation = self.history.create_conversation(
            system_prompt=system_prompt, model_ref=entry.id if entry else None
        )
        self.current_id = conversation.id
        if self._pending_collections and self.documents is not None:
            self.documents.set_conversation_collections(conversation.id, self._pending_collections)
        self._pending_collections = []
        return conversation.id

    def _model_record(self, entry: ModelEntry | RemoteListing) -> dict:
        """What a reply records about its model; a remote one by name and remote id."""
        if isinstance(entry, RemoteListing):
            return {
                "model_name": entry.model,
                "model_path": entry.id,
                "model_size": None,
                "model_fingerprint": None,
                "quantization": None,
            }
        info = entry.info
        return {
            "model_name": entry.name,
            "model_path": str(entry.path),
            "model_size": entry.size_bytes,
            "model_fingerprint": self._fingerprint(entry.path),
            "quantization": info.quantization if info else "",
        }

    def _fingerprint(self, path: Path) -> str:
        key = str(path)
        if key not in self._fingerprints:
            try:
                self._fingerprints[key] = model_fingerprint(path)
            except OSError:
                self._fingerprints[key] = ""
        return self._fingerprints[key]

    @Slot(int, str, int)
    def _on_text(self, job_id: int, text: str, tokens: int) -> None:
        active = self._active
        if active is None or job_id != active.job_id or self._event_engine() is not active.engine:
            return  # a stale job's text, or another engine's
        now = time.monotonic()
        if not active.first_token_at:
            active.first_token_at = now
        active.parts.append(text)
        active.tokens += tokens
        if active.conversation_id == self.current_id:
            self.replyText.emit(active.message_id, text)
        elapsed = now - active.first_token_at
        if elapsed > 0.25 and active.tokens > 1:
            self.speedChanged.emit((active.tokens - 1) / elapsed)
        if now - active.last_flush >= FLUSH_SECONDS:
            active.last_flush = now
            self._persist(lambda: self.history.update_reply(active.message_id, active.text))

    @Slot(int, object)
    def _on_finished(self, job_id: int, finished: JobFinished) -> None:
        source = self._event_engine()
        if job_id == self._load_job and source is self.engine:
            self._load_job = None
            if not finished.ok:
                # The engine drops the old model before loading a new one.
                self.loaded = None
                self._loading_path = None
                message = finished.error.user_text() if finished.error else "Loading failed."
                if finished.finish_reason == "crashed":
                    self.engineProblem.emit(message)
                self.modelFailed.emit(message)
            return
        active = self._active
        if active is None or job_id != active.job_id or source is not active.engine:
            return
        self._active = None
        text = finished.text or active.text
        stats = finished.stats
        error = finished.error.user_text() if finished.error is not None else None
        self._persist(
            lambda: self.history.finish_reply(
                active.message_id,
                text,
                finished.finish_reason,
                error=error,
                prompt_tokens=stats.prompt_tokens if stats else None,
                completion_tokens=stats.completion_tokens if stats else None,
                ttft_ms=stats.ttft_ms if stats else None,
                tokens_per_s=stats.tokens_per_s if stats else None,
                seed=stats.seed if stats else None,
            )
        )
        if finished.finish_reason == "crashed" and source is not self.engine:
            self._parked.pop(id(source), None)  # it lost its model: load again on return
        elif finished.finish_reason == "crashed":
            self.loaded = None
            self._loading_path = None
            self.engineProblem.emit(error or "The model engine stopped unexpectedly.")
        self.busyChanged.emit(False)
        if active.conversation_id == self.current_id:
            self.replyFinished.emit(self.history.get_message(active.message_id))
        self.conversationsChanged.emit()

    def _persist(self, write) -> None:
        try:
            write()
        except NotFound:
            log.info("the reply was deleted while it was being written")
        except HearthError as error:
            log.error("could not save the reply: %s", error)
            self.engineProblem.emit(error.user_text())

    def shutdown(self) -> None:
        """Finalise a reply that is still streaming before the app quits."""
        active = self._active
        if active is not None:
            self._active = None
            self._persist(
                lambda: self.history.finish_reply(active.message_id, active.text, "cancelled")
            )
        self.bridge.close()
        engines = [(e, b) for _endpoint, e, b in self._remotes.values()] + self._retired
        self._remotes.clear()
        self._retired = []
        for engine, bridge in engines:
            bridge.close()
            engine.shutdown(timeout=1.0)  # its worker is a daemon: never a long wait


def _load_path(entry: ModelEntry | RemoteListing) -> str:
    """What the engine loads: the file, or the remote model's name."""
    if isinstance(entry, RemoteListing):
        return entry.model or ""
    return str(entry.path)
