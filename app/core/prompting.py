"""Chat prompts from the model's own chat template, rendered in a Jinja sandbox.

A chat template ships inside the model file, so it is untrusted input: it is rendered
with an immutable sandbox (no attribute tricks, no mutation of our objects), with
autoescaping off (it produces a prompt, not HTML), and bounded output size.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.errors import ChatTemplateError
from app.core.options import ChatMessage

MAX_TEMPLATE_CHARS = 256_000
MAX_PROMPT_CHARS = 8_000_000

# ChatML: what many instruction-tuned models use; our fallback when a model ships no
# usable template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    used_fallback: bool
    warning: str = ""


class ConversationRejected(ChatTemplateError):
    """The template refused this conversation on purpose (its ``raise_exception``)."""


def _raise_exception(message: str) -> NoReturn:
    # e.g. "Conversation roles must alternate user/assistant/user/assistant/..."
    raise ConversationRejected(str(message)[:300])


def _strftime_now(fmt: str) -> str:
    return _dt.datetime.now().strftime(str(fmt)[:64])


class ChatTemplate:
    """A compiled, sandboxed chat template."""

    def __init__(self, source: str) -> None:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise ChatTemplateError(f"template is too large ({len(source)} characters)")
        env = ImmutableSandboxedEnvironment(
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.Undefined,
        )
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ChatTemplateError(f"syntax error on line {exc.lineno}: {exc.message}") from exc
        except Exception as exc:  # a hostile template must not escape as anything else
            raise ChatTemplateError(f"cannot compile: {type(exc).__name__}") from exc
        self.source = source

    def render(
        self,
        messages: Sequence[ChatMessage],
        *,
        bos_token: str = "",
        eos_token: str = "",
        add_generation_prompt: bool = True,
    ) -> str:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        try:
            text = self._template.render(
                messages=payload,
                bos_token=bos_token,
                eos_token=eos_token,
                add_generation_prompt=add_generation_prompt,
            )
        except ChatTemplateError:
            raise
        except SecurityError as exc:
            raise ChatTemplateError(f"it tried an unsafe operation ({exc})") from exc
        except RecursionError as exc:
            raise ChatTemplateError("it recursed too deeply") from exc
        except Exception as exc:
            raise ChatTemplateError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        if len(text) > MAX_PROMPT_CHARS:
            raise ChatTemplateError("it produced an absurdly long prompt")
        return text


@functools.lru_cache(maxsize=8)
def compiled_template(source: str) -> ChatTemplate:
    # Compiling a model's template takes milliseconds; a chat renders it every turn.
    return ChatTemplate(source)


def render_chat_prompt(
    template_source: str | None,
    messages: Sequence[ChatMessage],
    *,
    bos_token: str = "",
    eos_token: str = "",
) -> RenderedPrompt:
    """Render with the model's template; fall back to ChatML when it is missing or unsafe.

    A template that rejects the conversation on purpose (``raise_exception``) is not
    replaced: that is a real error the user must see.
    """
    if template_source:
        try:
            template = compiled_template(template_source)
            text = template.render(messages, bos_token=bos_token, eos_token=eos_token)
            return RenderedPrompt(text=text, used_fallback=False)
        except ConversationRejected:
            raise
        except ChatTemplateError as exc:
            warning = f"{exc.message} Using a generic chat format instead."
    else:
        warning = "The model has no chat template. Using a generic chat format."
    text = ChatTemplate(CHATML_TEMPLATE).render(messages)
    return RenderedPrompt(text=text, used_fallback=True, warning=warning)
