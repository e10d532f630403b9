"""Settings-derived pieces of the control plane: the signing key and the state before any command."""

from __future__ import annotations

from cmo.config import Settings
from cmo.domain.flags import FlagState


def control_key(settings: Settings) -> bytes | None:
    """CMO_CONTROL_KEY as bytes (None when unset: commands can be neither written nor accepted)."""
    return settings.cmo_control_key.get_secret_value().encode() if settings.cmo_control_key else None


def initial_state(settings: Settings) -> FlagState:
    """Before any command: LIGHTRAG_ENABLED and LIGHTRAG_ROLLOUT_PERCENTAGE from settings."""
    return FlagState(lightrag_enabled=settings.lightrag_enabled,
                     rollout_percentage=settings.lightrag_rollout_percentage)
