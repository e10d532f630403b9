"""Run a stream-processing worker: ``python -m processors quality``.

``quality`` scores every answered response — with the LLM judge when OPENAI_API_KEY is
set (CMO_QUALITY_SCORER=auto), else with the offline scorer (local embeddings, no API
calls) — and publishes ``QualityScored`` events. Settings come from the
environment and ``.env`` (:func:`cmo.config.load_settings`). The worker stops cleanly
on SIGINT/SIGTERM; the durable producer is flushed and closed afterwards (whatever is
not yet acknowledged stays in its outbox and is sent at the next start).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import faust

from cmo.adapters.embeddings import LocalEmbedder
from cmo.adapters.factory import make_producer
from cmo.adapters.openai_models import OpenAIModels
from cmo.config import Settings, load_settings
from cmo.exceptions import CMOError
from cmo.quality.factory import make_scorer, model_config
from cmo.quality.model import QualityScorer
from processors.faust_app import DEFAULT_APP_ID, DEFAULT_WEB_PORT, create_app
from processors.quality_agent import SERVICE, register_quality_agent

logger = logging.getLogger(__name__)


def configured_scorer(settings: Settings) -> tuple[QualityScorer, OpenAIModels | None]:
    """The scorer the settings ask for: the LLM judge with a model, else the offline one."""
    config = model_config(settings)
    models = OpenAIModels(config) if config else None
    return make_scorer(settings, models, LocalEmbedder()), models


def run_quality(settings: Settings, *, app_id: str = DEFAULT_APP_ID, web_port: int | None = None,
                loglevel: str = "info") -> None:
    """Run the quality worker until a signal stops it (raises SystemExit when done)."""
    scorer, _models = configured_scorer(settings)
    app = create_app(settings, app_id, web_enabled=web_port is not None,
                     web_port=web_port or DEFAULT_WEB_PORT)
    producer = make_producer(settings, SERVICE)
    try:
        register_quality_agent(app, settings, scorer, producer)
        faust.Worker(app, loglevel=loglevel).execute_from_commandline()
    finally:
        left = producer.close()
        logger.info("quality worker stopped (%d events left in the outbox)", left)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m processors quality [--app-id ID] [--web-port N]``."""
    parser = argparse.ArgumentParser(prog="python -m processors",
                                     description="Run a CMO stream-processing worker.")
    sub = parser.add_subparsers(dest="processor", required=True)
    quality = sub.add_parser("quality", help="score responses, publish QualityScored")
    quality.add_argument("--app-id", default=DEFAULT_APP_ID,
                         help="Faust app id = consumer group (default %(default)s)")
    quality.add_argument("--web-port", type=int, default=None,
                         help="serve Faust's web/health endpoints on 127.0.0.1:PORT")
    quality.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        run_quality(settings, app_id=args.app_id, web_port=args.web_port,
                    loglevel=args.loglevel)
    except CMOError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
