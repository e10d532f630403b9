"""Exceptions of the Clinical Metabolomics Oracle core.

Every error the project raises on purpose derives from :class:`CMOError`, so entry
points can catch one type, print its message and exit non-zero::

    CMOError                      root; ``retriable`` says whether trying again may help
    ├── ConfigError               settings that cannot work (all problems in one message)
    ├── SchemaError               a schema file is missing, unparsable or incompatible
    ├── SerializationError        bytes that are not a valid event (undecodable, wrong schema)
    │   └── UnknownSchemaError    single-object fingerprint not in the schema store
    ├── BrokerUnavailableError    Kafka cannot be reached (retriable)
    └── PublishError              an event could not be accepted, not even into the outbox

Adapters translate library errors into these with ``raise ... from exc``.
"""

from __future__ import annotations


class CMOError(Exception):
    """Root of every error raised on purpose by this project."""

    retriable: bool = False


class ConfigError(CMOError):
    """Configuration that cannot work; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"configuration has {len(self.problems)} problem(s):\n{lines}")


class SchemaError(CMOError):
    """A schema is missing, cannot be parsed, or breaks compatibility."""


class SerializationError(CMOError):
    """Bytes that cannot be decoded into a valid event of the expected type."""


class UnknownSchemaError(SerializationError):
    """A single-object encoded record names a writer schema we do not know."""


class BrokerUnavailableError(CMOError):
    """The Kafka broker cannot be reached right now."""

    retriable = True


class PublishError(CMOError):
    """An event could not be accepted (not even into the durable outbox)."""
