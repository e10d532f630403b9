"""The chat's users file (bcrypt, mode 0600), ``cmo users``, and pseudonymous user ids."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cmo.cli.main import app
from cmo.exceptions import ConfigError
from cmo.users import UsersError, UsersFile, pseudonymous_id


@pytest.fixture
def users(tmp_path: Path) -> UsersFile:
    return UsersFile(tmp_path / "sub" / "users.json", rounds=4)


def test_add_verify_remove(users: UsersFile) -> None:
    assert users.names() == []
    assert users.add("ana", "long enough pw") is True
    assert users.add("ana", "another long pw") is False  # new password
    assert users.verify("ana", "another long pw") and not users.verify("ana", "long enough pw")
    assert not users.verify("bob", "another long pw")
    assert users.path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(users.path.read_text())["users"]["ana"]
    assert stored.startswith("$2b$04$") and "another" not in stored
    users.remove("ana")
    assert users.names() == []
    with pytest.raises(UsersError, match="no user 'ana'"):
        users.remove("ana")


@pytest.mark.parametrize("name, password, message", [
    ("ana", "short", "too short"),
    ("ana", "x" * 73, "too long"),
    ("with space", "long enough pw", "invalid user name"),
    ("", "long enough pw", "invalid user name"),
])
def test_refuses_bad_names_and_passwords(users: UsersFile, name: str, password: str, message: str) -> None:
    with pytest.raises(UsersError, match=message):
        users.add(name, password)


def test_malformed_file_is_a_clear_error(users: UsersFile) -> None:
    users.path.parent.mkdir(parents=True)
    users.path.write_text("not json")
    with pytest.raises(UsersError, match="cannot read users file"):
        users.names()


def test_pseudonymous_id_is_an_hmac_of_the_login() -> None:
    expected = hmac.new(b"k" * 16, b"ana", hashlib.sha256).hexdigest()[:32]
    assert pseudonymous_id("ana", "k" * 16) == expected != pseudonymous_id("ana", "j" * 16)
    assert "ana" not in expected
    with pytest.raises(ConfigError, match="CMO_USER_ID_KEY"):
        pseudonymous_id("ana", None)


def test_cli_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.json"
    monkeypatch.setenv("CMO_USERS_FILE", str(path))
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "ana", "--password-stdin"], input="long enough pw\n")
    assert added.exit_code == 0, added.output
    assert UsersFile(path).verify("ana", "long enough pw")
    prompted = runner.invoke(app, ["users", "add", "bob"], input="long enough pw\nlong enough pw\n")
    assert prompted.exit_code == 0, prompted.output
    mismatch = runner.invoke(app, ["users", "add", "eve"], input="long enough pw\nother long pw\n")
    assert mismatch.exit_code != 0 and isinstance(mismatch.exception, UsersError)
    listed = runner.invoke(app, ["users", "list"])
    assert listed.output.split() == ["ana", "bob"] and "$2b$" not in listed.output
    assert runner.invoke(app, ["users", "remove", "bob"]).exit_code == 0
    assert UsersFile(path).names() == ["ana"]
