"""Run a stream-processing worker: ``python -m processors quality|metrics|controllers``.

``quality`` scores every answered response — with the LLM judge when OPENAI_API_KEY is
set (CMO_QUALITY_SCORER=auto), else with the offline scorer (local embeddings, no API
calls) — and publishes ``QualityScored`` events. Settings come from the
environment and ``.env`` (:func:`cmo.config.load_settings`). ``metrics`` aggregates
responses, quality scores and costs per backend over tumbling and hopping windows and
publishes ``WindowMetrics`` (see :mod:`processors.metrics_agent`). ``controllers`` runs
the breakers, LightRAG's auto-rollback and the budget in one worker, writing signed control
commands (see :mod:`processors.controller_agent`). The worker stops cleanly
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
from processors import controller_agent, metrics_agent, rollout_agent
from processors.alert_agent import register_alert_agent
from processors.alert_delivery import AlertDispatcher, sinks_from
from processors.budget_agent import register_budget_agent
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
    _add_metrics_parser(sub)
    _add_controllers_parser(sub)
    alerts = sub.add_parser("alerts", help="deliver Alert events to the webhook / email")
    alerts.add_argument("--app-id", default=None, help="Faust app id (default <prefix>-alerts)")
    alerts.add_argument("--web-port", type=int, default=None,
                        help="serve Faust's web/health endpoints on 127.0.0.1:PORT")
    alerts.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.processor == "metrics":
            _run_metrics(settings, args)
            return
        if args.processor == "controllers":
            _run_controllers(settings, args)
            return
        if args.processor == "alerts":
            _run_alerts(settings, args)
            return
        run_quality(settings, app_id=args.app_id, web_port=args.web_port,
                    loglevel=args.loglevel)
    except CMOError as exc:
        raise SystemExit(f"error: {exc}") from None


def _add_metrics_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = sub.add_parser("metrics", help="windowed metrics per backend, publish WindowMetrics")
    metrics.add_argument("--app-id", default=metrics_agent.DEFAULT_APP_ID,
                         help="Faust app id = consumer group (default %(default)s)")
    metrics.add_argument("--web-port", type=int, default=None,
                         help="serve Faust's web/health endpoints on 127.0.0.1:PORT")
    metrics.add_argument("--loglevel", default="info")
    metrics.add_argument("--tumbling-ms", type=int, default=10_000,
                         help="tumbling window size, 0 = none (default %(default)s)")
    metrics.add_argument("--hopping-ms", type=int, default=60_000,
                         help="hopping window size, 0 = none (default %(default)s)")
    metrics.add_argument("--hop-ms", type=int, default=10_000,
                         help="hopping window step (default %(default)s)")
    metrics.add_argument("--grace-ms", type=int, default=metrics_agent.DEFAULT_GRACE_MS,
                         help="close a window at wall-clock end + grace (default %(default)s)")
    metrics.add_argument("--tick-s", type=float, default=metrics_agent.DEFAULT_TICK_S,
                         help="how often to look for due windows (default %(default)s)")
    metrics.add_argument("--ab-interval-s", type=float, default=30.0,
                         help="how often to analyse the A/B experiment (default %(default)s)")
    metrics.add_argument("--ab-min-samples", type=int, default=100,
                         help="no A/B winner before this many samples per variant and test "
                              "(default %(default)s)")


def _run_metrics(settings: Settings, args: argparse.Namespace) -> None:
    try:
        specs = metrics_agent.window_specs(args.tumbling_ms, args.hopping_ms, args.hop_ms)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    metrics_agent.run_metrics(settings, app_id=args.app_id, web_port=args.web_port,
                              loglevel=args.loglevel, specs=specs, grace_ms=args.grace_ms,
                              tick_s=args.tick_s, ab_interval_s=args.ab_interval_s,
                              ab_min_samples=args.ab_min_samples)


def _add_controllers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    controllers = sub.add_parser("controllers", help="breakers, auto-rollback and budget: "
                                 "ControllerDecision events and signed control commands")
    controllers.add_argument("--app-id", default=None,
                             help="Faust app id = consumer group (default <prefix>-controllers)")
    controllers.add_argument("--web-port", type=int, default=None,
                             help="serve Faust's web/health endpoints on 127.0.0.1:PORT")
    controllers.add_argument("--loglevel", default="info")
    controller_agent.add_controller_arguments(controllers)
    rollout_agent.add_rollout_arguments(controllers)


def _run_controllers(settings: Settings, args: argparse.Namespace) -> None:
    """One worker runs both the breaker/auto-rollback agent and the budget agent."""
    controller_agent.require_control_key(settings)  # refuse before touching the broker
    app = create_app(settings, args.app_id or f"{settings.kafka_topic_prefix}-controllers",
                     web_enabled=args.web_port is not None,
                     web_port=args.web_port or DEFAULT_WEB_PORT)
    producer = make_producer(settings, controller_agent.OUTBOX)
    try:
        controller_agent.register_controller_agent(
            app, settings, producer, breaker_config=controller_agent.breaker_config_from(args),
            tick_interval_s=args.tick_interval, dry_run=args.dry_run)
        register_budget_agent(app, settings, producer, dry_run=args.dry_run)
        rollout_agent.register_rollout_agent(
            app, settings, producer, rollout_agent.rollout_config_from(args),
            tick_interval_s=args.tick_interval, dry_run=args.dry_run)
        faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()
    finally:
        left = producer.close()
        logger.info("controllers worker stopped (%d events left in the outbox)", left)


def _run_alerts(settings: Settings, args: argparse.Namespace) -> None:
    """Alert delivery: webhook (CMO_ALERT_WEBHOOK_URL) and/or email (CMO_ALERT_SMTP_*)."""
    sinks = sinks_from(settings)
    if not sinks:
        logger.warning("no alert destination configured (CMO_ALERT_WEBHOOK_URL or CMO_ALERT_SMTP_*): "
                       "alerts are only logged")
    app = create_app(settings, args.app_id or f"{settings.kafka_topic_prefix}-alerts",
                     web_enabled=args.web_port is not None, web_port=args.web_port or DEFAULT_WEB_PORT)
    producer = make_producer(settings, "alerts")
    dispatcher = AlertDispatcher(sinks, settings.cmo_alert_min_severity)
    try:
        register_alert_agent(app, settings, dispatcher, producer)
        faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()
    finally:
        producer.close()


if __name__ == "__main__":
    main()
