"""Checks and preparation before the chat starts (no Chainlit import here).

Auth is always on: ``CHAINLIT_AUTH_SECRET`` signs login tokens, ``CMO_USER_ID_KEY`` keys
the pseudonymous user ids, and at least one way to log in must exist (users in the users
file, OAuth through Chainlit's ``OAUTH_*`` variables, or header auth behind a trusted
proxy). There are no default credentials.

Chainlit reads ``.chainlit/config.toml`` and ``public/`` from its app root and writes
translations and uploads there, so ``cmo ui`` runs it in a runtime folder
(``$CMO_HOME/ui``) prepared from the files kept in ``ui/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from cmo.config import Settings
from cmo.users import UsersError, UsersFile

UI_DIR = Path(__file__).resolve().parent
APP = UI_DIR / "app.py"
MIN_SECRET_CHARS = 32
MIN_KEY_CHARS = 16
_OAUTH = re.compile(r"^OAUTH_[A-Z0-9_]+_CLIENT_ID$")


def oauth_configured(environ: Mapping[str, str]) -> bool:
    """Chainlit enables an OAuth provider when its ``OAUTH_<PROVIDER>_CLIENT_ID`` (and secret) is set."""
    return any(_OAUTH.match(k) and v for k, v in environ.items())


def has_password_users(settings: Settings) -> bool:
    try:
        return bool(UsersFile(settings.users_path).names())
    except UsersError:
        return False


def environment_problems(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Everything that keeps the chat from starting safely, each with how to fix it."""
    problems: list[str] = []
    secret = environ.get("CHAINLIT_AUTH_SECRET", "")
    if not secret:
        problems.append("CHAINLIT_AUTH_SECRET: required (it signs login tokens); create one with "
                        "`chainlit create-secret` and keep it out of the repository")
    elif len(secret) < MIN_SECRET_CHARS:
        problems.append(f"CHAINLIT_AUTH_SECRET: too short (at least {MIN_SECRET_CHARS} characters)")
    key = settings.cmo_user_id_key.get_secret_value() if settings.cmo_user_id_key else ""
    if not key:
        problems.append("CMO_USER_ID_KEY: required (events carry HMAC(login) with this key, never the "
                        "login); set it to a long random secret")
    elif len(key) < MIN_KEY_CHARS:
        problems.append(f"CMO_USER_ID_KEY: too short (at least {MIN_KEY_CHARS} characters)")
    users_file = settings.users_path
    if users_file.exists():
        try:
            UsersFile(users_file).names()
        except UsersError as exc:
            problems.append(f"CMO_USERS_FILE: {exc}")
    if not (has_password_users(settings) or oauth_configured(environ) or settings.cmo_ui_header_auth):
        problems.append(f"no way to log in: add a user with `cmo users add NAME` (users file "
                        f"{users_file}), or configure OAuth (OAUTH_<PROVIDER>_CLIENT_ID/SECRET) or "
                        "CMO_UI_HEADER_AUTH behind a trusted proxy")
    return problems


def prepare_app_root(target: Path) -> Path:
    """A Chainlit app root with our config and public files (refreshed at every start)."""
    (target / ".chainlit").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(UI_DIR / ".chainlit" / "config.toml", target / ".chainlit" / "config.toml")
    shutil.copyfile(UI_DIR / "chainlit.md", target / "chainlit.md")
    if (UI_DIR / "public").is_dir():
        shutil.copytree(UI_DIR / "public", target / "public", dirs_exist_ok=True)
    return target
