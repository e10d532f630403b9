"""The cmo command as a user runs it (a subprocess, real files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cmo.adapters.factory import schema_dir

REPO = Path(__file__).resolve().parents[2]


def cmo(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTRAG_", "KAFKA_", "CMO_"))}
    return subprocess.run([sys.executable, "-m", "cmo", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=60)


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(schema_dir(), target)
    return target


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    raw = json.loads(path.read_text())
    change(raw["fields"])
    path.write_text(json.dumps(raw))


def test_help_everywhere() -> None:
    for args in ([], ["broker"], ["topics"], ["schemas"], ["config"], ["demo"]):
        result = cmo(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_schemas_check_accepts_committed_schemas(schemas: Path) -> None:
    result = cmo("schemas", "check", "--dir", str(schemas))
    assert result.returncode == 0, result.stderr


def test_schemas_check_rejects_removing_a_field_without_default(schemas: Path) -> None:
    _edit(schemas / "QueryReceived.avsc", lambda f: f.remove(next(x for x in f if x["name"] == "user_id")))
    result = cmo("schemas", "check", "--dir", str(schemas))
    assert result.returncode == 1
    assert "QueryReceived" in result.stderr and "user_id" in result.stderr


def test_schemas_check_accepts_adding_a_field_with_default(schemas: Path) -> None:
    _edit(schemas / "QueryReceived.avsc",
          lambda f: f.append({"name": "client_version", "type": ["null", "string"], "default": None,
                              "doc": "Version of the client that asked."}))
    assert cmo("schemas", "check", "--dir", str(schemas)).returncode == 0
    frozen = cmo("schemas", "freeze", "--dir", str(schemas))
    assert frozen.returncode == 0 and "v2.avsc" in frozen.stdout
    assert (schemas / "versions" / "QueryReceived" / "v2.avsc").exists()


def test_schemas_check_rejects_adding_a_field_without_default(schemas: Path) -> None:
    _edit(schemas / "Alert.avsc", lambda f: f.append({"name": "team", "type": "string", "doc": "Owner."}))
    result = cmo("schemas", "check", "--dir", str(schemas))
    assert result.returncode == 1 and "team" in result.stderr


def test_config_check_names_the_bad_variable(tmp_path: Path) -> None:
    (tmp_path / "papers").mkdir()
    env = {"LIGHTRAG_ROLLOUT_PERCENTAGE": "150", "LIGHTRAG_PAPERS_DIR": str(tmp_path / "papers"),
           "CMO_HOME": str(tmp_path / "home")}
    result = cmo("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "LIGHTRAG_ROLLOUT_PERCENTAGE" in result.stderr and "150" in result.stderr
    env["LIGHTRAG_ROLLOUT_PERCENTAGE"] = "15"
    ok = cmo("config", "check", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_config_show_never_prints_a_password_in_a_url(tmp_path: Path) -> None:
    env = {"CLICKHOUSE_URL": "https://ops:hunter2-secret@ch.internal:8443",
           "CMO_CONTROL_KEY": "a-control-key-value", "CMO_HOME": str(tmp_path / "home")}
    result = cmo("config", "show", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stdout and "a-control-key-value" not in result.stdout
    assert "ops:***@ch.internal:8443" in result.stdout.replace("\n", "")


def test_config_reads_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LIGHTRAG_DAILY_BUDGET=-3\n")
    result = cmo("config", "check", cwd=tmp_path)
    assert result.returncode == 1 and "LIGHTRAG_DAILY_BUDGET" in result.stderr


def test_broker_command_refuses_a_remote_bootstrap() -> None:
    result = cmo("broker", "status", env={"KAFKA_BOOTSTRAP_SERVERS": "kafka.internal:9092"})
    assert result.returncode == 1
    assert "not a local loopback broker" in result.stderr
