"""Chat templates are untrusted: rendered in a sandbox, with a safe fallback."""

from __future__ import annotations

import pytest

from app.core.errors import ChatTemplateError
from app.core.options import ChatMessage
from app.core.prompting import (
    CHATML_TEMPLATE,
    ChatTemplate,
    ConversationRejected,
    render_chat_prompt,
)

MESSAGES = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"))


def test_chatml_renders_roles_and_the_generation_prompt():
    text = ChatTemplate(CHATML_TEMPLATE).render(MESSAGES)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_bos_and_eos_tokens_are_available_to_templates():
    template = ChatTemplate(
        "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"
    )
    assert template.render(MESSAGES, bos_token="<s>", eos_token="</s>") == "<s>Be brief.</s>Hi</s>"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.system('id') }}",
        "{{ messages.append({'role': 'user'}) }}",
        "{{ (messages|first).__class__.__base__ }}",
        "{% set x = namespace() %}{{ x.__init__.__globals__ }}",
    ],
)
def test_unsafe_templates_are_replaced_by_the_generic_format(payload: str):
    rendered = render_chat_prompt(payload, MESSAGES)
    assert rendered.used_fallback
    assert "unsafe" in rendered.warning or "cannot be used" in rendered.warning
    assert rendered.text.endswith("<|im_start|>assistant\n")


def test_a_syntax_error_falls_back_with_a_warning_naming_the_line():
    rendered = render_chat_prompt("{% for m in messages %}\n{{ m.content ", MESSAGES)
    assert rendered.used_fallback
    assert "line" in rendered.warning


def test_a_missing_template_uses_the_generic_format():
    rendered = render_chat_prompt(None, MESSAGES)
    assert rendered.used_fallback and "no chat template" in rendered.warning


def test_a_template_that_rejects_the_conversation_is_a_real_error():
    template = (
        "{% if messages[0].role == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
    )
    with pytest.raises(ConversationRejected, match="System role not supported"):
        render_chat_prompt(template, MESSAGES)


def test_huge_ranges_are_refused_by_the_sandbox():
    rendered = render_chat_prompt("{% for i in range(10**9) %}x{% endfor %}", MESSAGES)
    assert rendered.used_fallback


def test_oversized_templates_are_refused():
    with pytest.raises(ChatTemplateError, match="too large"):
        ChatTemplate("x" * 300_000)


def test_message_content_is_not_interpreted_as_a_template():
    messages = (ChatMessage("user", "{{ 7 * 7 }} {% raw %}"),)
    text = ChatTemplate(CHATML_TEMPLATE).render(messages)
    assert "{{ 7 * 7 }} {% raw %}" in text and "49" not in text
