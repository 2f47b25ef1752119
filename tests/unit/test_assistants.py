"""Assistants: built-ins, the user's own, and lookup by name."""

from __future__ import annotations

from app.core.assistants import BUILTIN_ASSISTANTS, Assistant, all_assistants, find_assistant
from app.core.settings import Settings, with_setting


def test_built_ins_cover_writing_analysis_and_translation():
    names = [a.name for a in BUILTIN_ASSISTANTS]
    assert {"Business writing", "Analysis", "Translation"} <= set(names)
    assert all(a.builtin for a in BUILTIN_ASSISTANTS)


def test_a_custom_assistant_is_added_and_can_replace_a_built_in():
    custom = [Assistant("Legal review", "Check contracts."), Assistant("analysis", "Mine.")]
    names = [a.name for a in all_assistants(custom)]
    assert "Legal review" in names
    assert names.count("Analysis") == 0 and "analysis" in names
    assert find_assistant(all_assistants(custom), "ANALYSIS").system_prompt == "Mine."
    assert find_assistant(all_assistants(custom), "missing") is None


def test_settings_keep_the_users_assistants():
    settings = with_setting(
        Settings(), "assistants", '[{"name": "Support", "system_prompt": "Be kind."}]'
    )
    assert find_assistant(settings.assistant_list(), "support").system_prompt == "Be kind."
