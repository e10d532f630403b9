"""Chat logins: a users file with bcrypt hashes, and pseudonymous user ids for events.

The file is JSON ``{"users": {"NAME": "<bcrypt hash>"}}``, written atomically with mode
0600. There are no default users: the chat refuses every login until ``cmo users add``.
Events never carry the login, only :func:`pseudonymous_id` (HMAC-SHA256 with
``CMO_USER_ID_KEY``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from pathlib import Path

import bcrypt

from cmo.exceptions import CMOError, ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
MIN_PASSWORD_CHARS = 8
# bcrypt only uses the first 72 bytes; longer passwords are refused rather than silently cut.
MAX_PASSWORD_BYTES = 72


class UsersError(CMOError):
    """A users-file operation that cannot be done (bad name, weak password, unknown user)."""


def pseudonymous_id(login: str, key: str | None) -> str:
    """HMAC-SHA256 of the login (hex, 32 chars); the key comes from CMO_USER_ID_KEY."""
    if not key:
        raise ConfigError([("CMO_USER_ID_KEY: required by the chat (events carry HMAC(login), "
                            "never the login); set it to a long random secret")])
    return hmac.new(key.encode(), login.encode(), hashlib.sha256).hexdigest()[:32]


class UsersFile:
    """Logins and their bcrypt hashes in one JSON file."""

    def __init__(self, path: Path, rounds: int = 12) -> None:
        self.path = path
        self.rounds = rounds

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            users = data["users"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsersError(f"cannot read users file {self.path}: {exc}") from exc
        if not isinstance(users, dict):
            raise UsersError(f"users file {self.path} is malformed ('users' is not an object)")
        return {str(k): str(v) for k, v in users.items()}

    def _save(self, users: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"users": dict(sorted(users.items()))}, f, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def names(self) -> list[str]:
        return sorted(self._load())

    def add(self, name: str, password: str) -> bool:
        """Add or replace ``name``; True when the user is new."""
        if not NAME_PATTERN.match(name):
            raise UsersError(f"invalid user name {name!r}: use 1-100 letters, digits or . _ @ + -")
        if len(password) < MIN_PASSWORD_CHARS:
            raise UsersError(f"the password is too short (at least {MIN_PASSWORD_CHARS} characters)")
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            raise UsersError(f"the password is too long (at most {MAX_PASSWORD_BYTES} bytes for bcrypt)")
        users = self._load()
        new = name not in users
        users[name] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()
        self._save(users)
        return new

    def remove(self, name: str) -> None:
        users = self._load()
        if name not in users:
            raise UsersError(f"no user {name!r} in {self.path}")
        del users[name]
        self._save(users)

    def verify(self, name: str, password: str) -> bool:
        """True when the password matches; unknown users cost one hash too (no timing oracle)."""
        stored = self._load().get(name)
        candidate = password.encode()[:MAX_PASSWORD_BYTES]
        if stored is None:
            bcrypt.checkpw(candidate, _DUMMY_HASH)
            return False
        try:
            return bcrypt.checkpw(candidate, stored.encode())
        except ValueError:
            return False


_DUMMY_HASH = bcrypt.hashpw(b"no such user", bcrypt.gensalt(4))
