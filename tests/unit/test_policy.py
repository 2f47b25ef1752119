"""Machine-wide policy: parsing, failing closed on every kind of bad file, checks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from app.core.errors import HearthError
from app.core.policy import (
    NO_POLICY,
    POLICY_ENV,
    Policy,
    PolicyViolation,
    default_policy_path,
    load_policy,
    normalize_endpoint,
    require_api,
    require_downloads,
    require_model_allowed,
    require_remote,
    require_unlocked,
)

SHA = "ab" * 32

FULL = f"""
[lock]
"sampling.temperature" = 0.2
"default_model" = "mistral-7b-instruct-q4-k-m"

[downloads]
enabled = false

[models]
allow = ["TheBloke/Mistral-7B-Instruct-GGUF", "*.Q4_K_M.gguf", "sha256:{SHA.upper()}"]
shared_folders = ["/srv/models"]

[assistants]
default = "Business writing"

[api]
enabled = false

[remote]
enabled = true
endpoints = ["https://llm.example.internal/v1/"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_named(policy: Policy, path: Path, *words: str) -> None:
    assert policy.problems, "a problem should be recorded"
    for problem in policy.problems:
        assert str(path) in problem
        assert "\n" not in problem
    joined = " ".join(policy.problems)
    for word in words:
        assert word in joined


def test_no_file_allows_everything(tmp_path: Path):
    policy = load_policy(tmp_path / "absent.toml")
    assert policy == NO_POLICY
    assert policy.source is None and not policy.active
    assert policy.downloads_enabled and policy.api_enabled and policy.remote_enabled
    assert not policy.is_locked("sampling.temperature")
    assert policy.model_allowed(repo="any/thing", filename="x.gguf", sha256=None)
    assert policy.endpoint_allowed("https://anywhere.example/v1")
    assert policy.problems == ()
    require_downloads(policy)
    require_api(policy)
    require_remote(policy, "https://anywhere.example")
    require_unlocked(policy, "threads")
    require_model_allowed(policy, repo=None, filename="x.gguf", sha256=None)


def test_full_example_is_parsed(tmp_path: Path):
    path = write(tmp_path, FULL)
    policy = load_policy(path)
    assert policy.problems == ()
    assert policy.source == path
    assert hash(policy) == hash(load_policy(path))
    assert dict(policy.locks) == {
        "sampling.temperature": 0.2,
        "default_model": "mistral-7b-instruct-q4-k-m",
    }
    assert policy.is_locked("sampling.temperature") and not policy.is_locked("threads")
    assert policy.lock_value("default_model") == "mistral-7b-instruct-q4-k-m"
    assert not policy.downloads_enabled
    assert policy.model_allow == (
        "TheBloke/Mistral-7B-Instruct-GGUF",
        "*.Q4_K_M.gguf",
        f"sha256:{SHA}",
    )
    assert policy.shared_folders == (Path("/srv/models"),)
    assert policy.default_assistant == "Business writing"
    assert not policy.api_enabled
    assert policy.remote_enabled
    assert policy.remote_endpoints == ("https://llm.example.internal/v1",)
    assert not policy.locked_everything


def test_unquoted_dotted_lock_keys_are_flattened(tmp_path: Path):
    path = write(tmp_path, "[lock]\nsampling.temperature = 0.3\n[lock.sampling2]\ntop_p = 0.9\n")
    policy = load_policy(path)
    assert dict(policy.locks) == {"sampling.temperature": 0.3, "sampling2.top_p": 0.9}
    assert policy.problems == ()


def test_environment_variable_overrides_location(tmp_path: Path):
    path = write(tmp_path, "[api]\nenabled = false\n")
    assert default_policy_path({POLICY_ENV: str(path)}) == path
    policy = load_policy(environ={POLICY_ENV: str(path)})
    assert policy.source == path and not policy.api_enabled
    # Without the variable, the platform's site config folder is used.
    default = default_policy_path({})
    assert default.name == "policy.toml" and "hearth" in str(default).lower()
    assert default_policy_path({POLICY_ENV: "  "}) == default


def test_invalid_toml_fails_closed_for_everything(tmp_path: Path):
    path = write(tmp_path, "[downloads\nenabled = true\n")
    policy = load_policy(path)
    assert policy.locked_everything
    assert policy.is_locked("anything.at.all")
    assert not policy.downloads_enabled and not policy.api_enabled
    assert not policy.remote_enabled
    assert not policy.model_allowed(repo="a/b", filename="x.gguf", sha256=None)
    assert len(policy.problems) == 1
    assert_named(policy, path, "not valid TOML", "line 1")


def test_unreadable_path_is_reported_and_fails_closed(tmp_path: Path):
    folder = tmp_path / "policy.toml"
    folder.mkdir()
    policy = load_policy(folder)
    assert policy.locked_everything and not policy.downloads_enabled
    assert not policy.api_enabled and not policy.remote_enabled
    assert_named(policy, folder, "could not be read")


def test_non_utf8_file_fails_closed(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"[api]\nenabled = \xff\n")
    policy = load_policy(path)
    assert policy.locked_everything and not policy.api_enabled
    assert_named(policy, path, "UTF-8")


def test_bom_is_accepted(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_bytes("\ufeff[api]\nenabled = false\n".encode())
    policy = load_policy(path)
    assert policy.problems == () and not policy.api_enabled


@pytest.mark.parametrize(
    ("text", "closed", "words"),
    [
        ('[downloads]\nenabled = "maybe"\n', "downloads", ["[downloads] enabled", "'maybe'"]),
        ("[downloads]\nenable = true\n", "downloads", ["did you mean 'enabled'"]),
        ("downloads = true\n", "downloads", ["[downloads] section"]),
        ("[download]\nenabled = true\n", "downloads", ["did you mean [downloads]"]),
        ("[api]\nenabled = 1\n", "api", ["[api] enabled"]),
        ('[remote]\nenabled = "no"\n', "remote", ["[remote] enabled"]),
        ('[remote]\nendpoints = "https://x.example"\n', "remote", ["list of strings"]),
        ('[remote]\nendpoints = ["ftp://x.example"]\n', "remote", ["not an http(s) URL"]),
        ("[remote]\nendpoints = []\n", "remote", ["empty list"]),
        ('[models]\nallow = "org/repo"\n', "models", ["list of strings"]),
        ('[models]\nallow = ["org/repo", 3]\n', "models", ["not a non-empty string"]),
        ('[models]\nallow = ["sha256:1234"]\n', "models", ["64 hex"]),
        ('[models]\nallow = ["a/b/c"]\n', "models", ["org/repo"]),
        ('[models]\nallowed = ["org/repo"]\n', "models", ["did you mean 'allow'"]),
        ("lock = 3\n", "lock", ["[lock] section", "every setting is locked"]),
    ],
)
def test_bad_value_fails_closed_for_its_section(
    tmp_path: Path, text: str, closed: str, words: list[str]
):
    path = write(tmp_path, text)
    policy = load_policy(path)
    assert_named(policy, path, *words)
    states = {
        "downloads": policy.downloads_enabled,
        "api": policy.api_enabled,
        "remote": policy.remote_enabled,
        "models": policy.model_allowed(repo="org/repo", filename="x.gguf", sha256=SHA),
        "lock": not policy.locked_everything,
    }
    assert states.pop(closed) is False
    assert all(states.values()), f"only {closed} should be closed: {states}"


def test_bad_lock_value_keeps_the_key_locked(tmp_path: Path):
    path = write(
        tmp_path, '[lock]\ngood = 1\nwhen = 1979-05-27\nmixed = [1, {a = 1}]\n"bad key!" = 2\n'
    )
    policy = load_policy(path)
    assert dict(policy.locks) == {"good": 1}
    assert set(policy.bad_locks) == {"when", "mixed"}
    assert policy.is_locked("when") and policy.is_locked("mixed")
    assert not policy.is_locked("bad key!")
    assert policy.lock_value("when") is None
    assert not policy.locked_everything
    assert_named(policy, path, "[lock] when", "not a setting name")
    with pytest.raises(PolicyViolation, match="'when' is locked") as caught:
        require_unlocked(policy, "when")
    assert "default value" in caught.value.hint


def test_caller_can_demote_a_lock_that_fails_the_settings_schema(tmp_path: Path):
    policy = load_policy(write(tmp_path, '[lock]\ncontext_length = "huge"\n'))
    demoted = policy.with_bad_lock("context_length", "must be a whole number")
    assert "context_length" not in demoted.locks
    assert demoted.is_locked("context_length")
    assert "must be a whole number" in demoted.problems[-1]
    assert policy.locks["context_length"] == "huge"  # the original is unchanged


def test_unknown_unrelated_section_is_only_reported(tmp_path: Path):
    path = write(tmp_path, "[telemetry]\nenabled = true\n")
    policy = load_policy(path)
    assert_named(policy, path, "unknown section [telemetry]")
    assert policy.downloads_enabled and policy.api_enabled and not policy.locked_everything


def test_bad_shared_folders_adds_none_but_keeps_models(tmp_path: Path):
    path = write(tmp_path, '[models]\nshared_folders = ["/srv/models", "relative/dir"]\n')
    policy = load_policy(path)
    assert policy.shared_folders == ()
    assert policy.model_allowed(repo=None, filename="x.gguf", sha256=None)
    assert_named(policy, path, "absolute path")


def test_bad_default_assistant_is_ignored(tmp_path: Path):
    path = write(tmp_path, "[assistants]\ndefault = 7\n")
    policy = load_policy(path)
    assert policy.default_assistant is None
    assert_named(policy, path, "[assistants] default")


def test_model_allow_patterns():
    policy = Policy(
        source=Path("/p.toml"),
        model_allow=("TheBloke/Mistral-GGUF", "meta/*", "*.Q4_K_M.gguf", f"sha256:{SHA}"),
    )

    def allowed(repo: str | None, filename: str, sha: str | None = None) -> bool:
        return policy.model_allowed(repo=repo, filename=filename, sha256=sha)

    assert allowed("thebloke/mistral-gguf", "anything.gguf")  # repo, any case
    assert allowed("Meta/Llama-3", "x.gguf")  # repo glob
    assert not allowed("other/repo", "x.Q8_0.gguf")
    assert allowed(None, "/home/me/models/phi.q4_k_m.GGUF")  # filename glob, any case
    assert allowed("other/repo", "sub/dir/phi.Q4_K_M.gguf")
    assert allowed(None, "renamed.gguf", SHA.upper())  # hash, any case
    assert not allowed(None, "renamed.gguf", "cd" * 32)
    assert not allowed(None, "renamed.gguf", None)
    assert not allowed(None, "TheBloke/Mistral-GGUF")  # a repo pattern never matches a file
    assert Policy(model_allow=()).model_allowed(repo=None, filename="x", sha256=None)
    assert not Policy(models_blocked=True).model_allowed(repo="a/b", filename="x", sha256=None)


def test_empty_allow_list_allows_everything(tmp_path: Path):
    policy = load_policy(write(tmp_path, "[models]\nallow = []\n"))
    assert policy.problems == () and not policy.models_restricted
    assert policy.model_allowed(repo="a/b", filename="x.gguf", sha256=None)


def test_endpoint_allowed(tmp_path: Path):
    policy = load_policy(write(tmp_path, FULL))
    assert policy.endpoint_allowed("https://llm.example.internal/v1")
    assert policy.endpoint_allowed("https://LLM.example.internal:443/v1///")
    assert not policy.endpoint_allowed("https://llm.example.internal/v2")
    assert not policy.endpoint_allowed("http://llm.example.internal/v1")
    assert not policy.endpoint_allowed("https://evil.example/v1")
    assert Policy().endpoint_allowed("http://localhost:8080/")
    assert not Policy(remote_enabled=False).endpoint_allowed("http://localhost:8080/")
    assert normalize_endpoint("HTTP://Host:80/A/") == "http://host/A"
    assert normalize_endpoint("http://[::1]:8080/v1/") == "http://[::1]:8080/v1"


def test_violations_name_the_policy_file(tmp_path: Path):
    path = write(tmp_path, FULL.replace("enabled = true", "enabled = false"))
    policy = load_policy(path)
    cases = [
        (lambda: require_downloads(policy), "Downloads are disabled"),
        (lambda: require_api(policy), "The local API server is disabled"),
        (lambda: require_remote(policy, "https://x.example"), "Remote endpoints are disabled"),
        (lambda: require_unlocked(policy, "sampling.temperature"), "is locked"),
        (
            lambda: require_model_allowed(
                policy, repo="other/repo", filename="x.Q8_0.gguf", sha256=None
            ),
            "other/repo/x.Q8_0.gguf is not allowed",
        ),
    ]
    for call, words in cases:
        with pytest.raises(PolicyViolation) as caught:
            call()
        error = caught.value
        assert isinstance(error, HearthError)
        assert words in str(error)
        assert f"by your organization's policy ({path})." in str(error)
        assert "IT" in error.hint
        assert error.source == path
    assert str(caught.value).startswith("The model")
    message = "Downloads are disabled by your organization's policy"
    with pytest.raises(PolicyViolation, match=message):
        require_downloads(policy)
    with pytest.raises(PolicyViolation) as caught:
        require_unlocked(policy, "sampling.temperature")
    assert "0.2" in caught.value.hint
    # Errors cross the engine process boundary intact.
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is PolicyViolation and copy.source == path and str(copy) == str(caught.value)


def test_remote_endpoint_not_listed_is_refused_with_the_list(tmp_path: Path):
    policy = load_policy(write(tmp_path, FULL))
    require_remote(policy, "https://llm.example.internal/v1/")
    with pytest.raises(PolicyViolation, match=r"https://evil\.example is not allowed") as caught:
        require_remote(policy, "https://evil.example")
    assert "https://llm.example.internal/v1" in caught.value.hint


def test_violation_hint_mentions_policy_problems(tmp_path: Path):
    policy = load_policy(write(tmp_path, '[downloads]\nenabled = "maybe"\n'))
    with pytest.raises(PolicyViolation) as caught:
        require_downloads(policy)
    assert "hearth policy show" in caught.value.hint


def test_describe_and_json_show_effective_values(tmp_path: Path):
    path = write(tmp_path, FULL + "\n[telemetry]\nx = 1\n")
    policy = load_policy(path)
    rows = dict(policy.describe())
    assert rows["Policy file"] == str(path)
    assert rows["Locked: sampling.temperature"] == "0.2"
    assert rows["Locked: default_model"] == "'mistral-7b-instruct-q4-k-m'"
    assert rows["Downloads"] == "disabled"
    assert "*.Q4_K_M.gguf" in rows["Allowed models"]
    assert rows["Shared model folders"] == str(Path("/srv/models"))
    assert rows["Default assistant"] == "Business writing"
    assert rows["API server"] == "disabled"
    assert rows["Remote endpoints"] == "only https://llm.example.internal/v1"
    assert "telemetry" in rows["Problem"]

    data = json.loads(json.dumps(policy.as_json()))
    assert data["source"] == str(path)
    assert data["locks"] == {
        "sampling.temperature": 0.2,
        "default_model": "mistral-7b-instruct-q4-k-m",
    }
    assert data["downloads_enabled"] is False and data["api_enabled"] is False
    assert data["remote_endpoints"] == ["https://llm.example.internal/v1"]
    assert data["shared_folders"] == [str(Path("/srv/models"))]
    assert len(data["problems"]) == 1

    empty = dict(Policy().describe())
    assert empty["Policy file"] == "no policy file"
    assert empty["Allowed models"] == "all" and empty["Downloads"] == "allowed"
    closed = dict(Policy(models_blocked=True, locked_everything=True).describe())
    assert closed["Allowed models"].startswith("none")
    assert closed["Locked settings"].startswith("all")
