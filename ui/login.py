"""Who may use the chat: password logins against the users file (bcrypt), and the
identity used for events (HMAC of the login, never the login)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from cmo.config import Settings
from cmo.users import UsersError, UsersFile, pseudonymous_id

logger = logging.getLogger(__name__)


class Logins:
    def __init__(self, settings: Settings) -> None:
        self.users = UsersFile(settings.users_path)
        key = settings.cmo_user_id_key
        self._key = key.get_secret_value() if key else None
        self.header = settings.cmo_ui_header_auth

    async def check_password(self, name: str, password: str) -> bool:
        try:
            ok = await asyncio.to_thread(self.users.verify, name, password)
        except UsersError as exc:
            logger.error("password login impossible: %s", exc)
            return False
        if not ok:
            logger.warning("refused login for user id %s", self.user_id(name))
        return ok

    def header_login(self, headers: Mapping[str, str]) -> str | None:
        if not self.header:
            return None
        value = headers.get(self.header.lower()) or headers.get(self.header)
        return value.strip() if value and value.strip() else None

    def user_id(self, login: str) -> str:
        return pseudonymous_id(login, self._key)
