"""Settings validation and topic layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmo.config import Settings, check_settings, load_settings
from cmo.exceptions import ConfigError
from cmo.topics import dlq_name, event_for_topic, topic_name, topic_specs


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGHTRAG_ROLLOUT_PERCENTAGE", "150")
    monkeypatch.setenv("LIGHTRAG_COST_ALERT_THRESHOLD", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "2 problem(s)" in text
    assert "LIGHTRAG_ROLLOUT_PERCENTAGE" in text and "150" in text
    assert "LIGHTRAG_COST_ALERT_THRESHOLD" in text


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMO_CONTROL_KEY", "")
    monkeypatch.setenv("KAFKA_PARTITIONS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings(openai_api_key=["sk-secret-value"])
    assert "sk-secret-value" not in str(info.value)


def test_machine_checks(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    s = Settings(_env_file=None, cmo_home=blocker / "home",  # type: ignore[call-arg]
                 lightrag_papers_dir=tmp_path / "missing", clickhouse_url="localhost:8123",
                 environment="production")
    problems = "\n".join(check_settings(s))
    for expected in ("CMO_HOME", "LIGHTRAG_PAPERS_DIR", "CLICKHOUSE_URL: must be an http",
                     "CMO_CONTROL_KEY: required in production", "KAFKA_BOOTSTRAP_SERVERS"):
        assert expected in problems


def test_topic_layout() -> None:
    specs = {s.name: s for s in topic_specs("cmo", 3, 1000)}
    assert topic_name("cmo", "QueryReceived") == "cmo.queries"
    assert specs["cmo.control"].config["cleanup.policy"] == "compact"
    assert specs["cmo.queries"].partitions == 3
    assert dlq_name("cmo.queries") in specs
    assert len(specs) == 24
    assert event_for_topic("cmo", "cmo.window-metrics") == "WindowMetrics"
    with pytest.raises(KeyError):
        event_for_topic("cmo", "other.queries")
