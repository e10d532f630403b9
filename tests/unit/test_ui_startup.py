"""The chat refuses to start without its secrets or a way to log in, prepares its Chainlit app
root, keeps the page on loopback, and parses rag_service's answer stream."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cmo.config import Settings
from cmo.users import UsersFile
from ui.offline_assets import strip_external
from ui.rag_client import AskEvent, BackendError, RagClient, parse_sse
from ui.startup import environment_problems, oauth_configured, prepare_app_root

SECRET = "s" * 48


def make_settings(tmp_path: Path, **over: object) -> Settings:
    return Settings(_env_file=None, cmo_home=tmp_path, cmo_users_file=tmp_path / "users.json",  # type: ignore[call-arg]
                    **over)


def test_everything_missing_is_listed_with_the_fix(tmp_path: Path) -> None:
    problems = environment_problems(make_settings(tmp_path), {})
    assert any(p.startswith("CHAINLIT_AUTH_SECRET: required") and "chainlit create-secret" in p
               for p in problems)
    assert any(p.startswith("CMO_USER_ID_KEY: required") for p in problems)
    assert any(p.startswith("no way to log in") and "cmo users add" in p for p in problems)


def test_short_secrets_are_refused(tmp_path: Path) -> None:
    problems = environment_problems(make_settings(tmp_path, cmo_user_id_key="short"),
                                    {"CHAINLIT_AUTH_SECRET": "tiny"})
    assert "CHAINLIT_AUTH_SECRET: too short (at least 32 characters)" in problems
    assert "CMO_USER_ID_KEY: too short (at least 16 characters)" in problems


def test_ready_with_a_user_or_oauth_or_header_auth(tmp_path: Path) -> None:
    env = {"CHAINLIT_AUTH_SECRET": SECRET}
    key = "k" * 16
    assert environment_problems(make_settings(tmp_path, cmo_user_id_key=key),
                                {**env, "OAUTH_GITHUB_CLIENT_ID": "id"}) == []
    assert environment_problems(make_settings(tmp_path, cmo_user_id_key=key,
                                              cmo_ui_header_auth="X-Forwarded-User"), env) == []
    UsersFile(tmp_path / "users.json", rounds=4).add("ana", "long enough pw")
    assert environment_problems(make_settings(tmp_path, cmo_user_id_key=key), env) == []
    assert not oauth_configured({"OAUTH_GITHUB_CLIENT_ID": ""})


def test_app_root_gets_our_config(tmp_path: Path) -> None:
    root = prepare_app_root(tmp_path / "root")
    config = (root / ".chainlit" / "config.toml").read_text()
    assert 'name = "Clinical Metabolomics Oracle"' in config and "latex = false" in config
    assert (root / "chainlit.md").read_text().startswith("# Clinical Metabolomics Oracle")


def test_chainlit_page_loads_nothing_from_other_hosts() -> None:
    spec = importlib.util.find_spec("chainlit")  # located, not imported (importing writes to cwd)
    assert spec is not None and spec.origin is not None
    index = (Path(spec.origin).parent / "frontend" / "dist" / "index.html").read_text()
    assert "fonts.googleapis.com" in index and "cdn.jsdelivr.net" in index  # what we strip
    page = strip_external(index)
    assert "https://" not in page and "//fonts" not in page
    assert '<script type="module" crossorigin src="/assets/' in page  # local assets stay
    assert '<link rel="stylesheet" crossorigin href="/assets/' in page


def test_parse_sse() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ['event: routing', 'data: {"backend": "lightrag"}', '', 'event: delta',
                     'data: {"text": "Leu"}', '', 'event: answer', 'data: {"text": "Leucine [1]"}']:
            yield line

    async def collect() -> list[AskEvent]:
        return [e async for e in parse_sse(lines())]

    assert asyncio.run(collect()) == [AskEvent("routing", {"backend": "lightrag"}),
                                      AskEvent("delta", {"text": "Leu"}),
                                      AskEvent("answer", {"text": "Leucine [1]"})]


def test_unreachable_service_is_a_clear_backend_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def ask() -> None:
        client = RagClient(f"http://127.0.0.1:{port}", timeout_s=5)
        try:
            async for _ in client.ask({"question": "x"}):
                pass
        finally:
            await client.close()

    with pytest.raises(BackendError, match="not reachable") as err:
        asyncio.run(ask())
    assert err.value.unreachable and err.value.retriable


def test_logins_check_passwords_and_read_the_trusted_header(tmp_path: Path) -> None:
    from ui.login import Logins

    UsersFile(tmp_path / "users.json", rounds=4).add("ana", "long enough pw")
    logins = Logins(make_settings(tmp_path, cmo_user_id_key="k" * 16, cmo_ui_header_auth="X-Remote-User"))
    assert asyncio.run(logins.check_password("ana", "long enough pw"))
    assert not asyncio.run(logins.check_password("ana", "wrong password"))
    assert not asyncio.run(logins.check_password("nobody", "long enough pw"))
    assert logins.header_login({"x-remote-user": " ana "}) == "ana"
    assert logins.header_login({"x-remote-user": "  "}) is None
    assert Logins(make_settings(tmp_path, cmo_user_id_key="k" * 16)).header_login({"x-remote-user": "ana"}) is None
    assert logins.user_id("ana") != "ana" and len(logins.user_id("ana")) == 32
