"""Shared CLI plumbing: settings loading, console, logging setup."""

from __future__ import annotations

import logging

from rich.console import Console

from cmo.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    """Settings for a command; a ConfigError propagates to :func:`cmo.cli.main.main`."""
    return load_settings()


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # librdkafka reports every refused connection; the producer already warns once.
    logging.getLogger("librdkafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
