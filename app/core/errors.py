"""Typed errors. Each carries a message a person can act on: what happened, what to do."""

from __future__ import annotations


class HearthError(Exception):
    """Base of every error Hearth reports to a user.

    ``str(error)`` is a single line fit to show as-is; ``hint`` (optional) says what to do.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def user_text(self) -> str:
        if not self.hint:
            return self.message
        message = self.message.rstrip()
        # The hint is a sentence of its own: end the message as one.
        if message and message[-1] not in ".!?:":
            message += "."
        return f"{message} {self.hint}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the exact subclass and fields when errors cross the engine process boundary.
        return (_rebuild_error, (type(self), self.__dict__.copy()))


def _rebuild_error(cls: type[HearthError], state: dict[str, object]) -> HearthError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class InvalidModelFile(HearthError):
    """A file is not a usable GGUF model. ``reason`` is a specific one-line cause."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path}: not a valid model file: {reason}",
            "Download the file again or pick another model.",
        )
        self.path = path
        self.reason = reason


class UnknownModel(HearthError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Unknown model '{name}'.",
            "Run 'hearth models' to list the installed models, or pass a path to a .gguf file.",
        )
        self.name = name


class ModelLoadError(HearthError):
    """llama.cpp could not load a model (even though it may look like valid GGUF)."""

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        super().__init__(f"Could not load {path}: {reason}", hint)
        self.path = path
        self.reason = reason


class NoModelLoaded(HearthError):
    def __init__(self) -> None:
        super().__init__("No model is loaded.", "Load a model first.")


class JobCancelled(HearthError):
    def __init__(self) -> None:
        super().__init__("The work was cancelled.")


class EmbeddingsUnsupported(HearthError):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model {model or 'that is loaded'} cannot produce embeddings.",
            "Load an embedding model (for example a GGUF of nomic-embed-text or bge).",
        )


class ContextOverflow(HearthError):
    def __init__(self, prompt_tokens: int, context_length: int) -> None:
        super().__init__(
            f"The conversation is too long for this model's context: {prompt_tokens} tokens "
            f"do not fit in {context_length}.",
            "Start a new conversation, shorten the text, or load the model with a longer "
            "context length.",
        )
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length


class ChatTemplateError(HearthError):
    """The model's chat template failed to render or tried something unsafe."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The model's chat template cannot be used: {reason}")
        self.reason = reason


class EngineCrashed(HearthError):
    """The engine process died. ``reason`` says how (signal, exit code); ``log_tail`` why."""

    def __init__(self, reason: str, log_tail: tuple[str, ...] = ()) -> None:
        super().__init__(
            f"The model engine stopped unexpectedly ({reason}).",
            "Your text is kept; the next request starts a fresh engine.",
        )
        self.reason = reason
        self.log_tail = log_tail


class EngineUnavailable(HearthError):
    """The engine could not be started at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The model engine could not start: {reason}")
        self.reason = reason


class EngineBusy(HearthError):
    def __init__(self, queued: int) -> None:
        super().__init__(
            f"The engine queue is full ({queued} jobs waiting).", "Try again in a moment."
        )
        self.queued = queued
