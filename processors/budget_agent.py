"""Budget agent: adds up every ``CostRecorded`` and stops paid traffic at the budget.

Consumes ``<prefix>.costs``; each record's ``usd`` is added to the UTC day and month spend
(:func:`cmo.domain.budget.accumulate`, at the record's ``event_time``) and the pure
:func:`cmo.domain.budget.decide` judges it against LIGHTRAG_DAILY_BUDGET and
LIGHTRAG_MONTHLY_BUDGET (0: not enforced) with LIGHTRAG_COST_ALERT_THRESHOLD percent as the
warning level. Every transition is a :class:`~cmo.events.ControllerDecision` (controller and
subject ``budget``); crossing the threshold publishes a warning :class:`~cmo.events.Alert`
(kind ``budget``), reaching the limit writes a signed ``budget.stop = true`` command (actor
``controller:budget``) with a critical alert, and a new period under the limit writes
``budget.stop = false``.

Costs are keyed by query, so they are first forwarded to ``<app_id>-budget-input`` under
the one key ``budget``: a single partition, a single writer of the ``budget-status`` table
(changelogged, so a restart keeps the totals). A timer sends a tick there while the budget
is alerted or stopped, so a new UTC day lifts the stop even when no cost arrives.

Delivery: Faust is at-least-once, so after a crash a cost may be forwarded or read twice.
Each forwarded cost carries its source partition and offset, and the table record keeps, next
to the status, the highest offset counted per source partition (one changelog record holds
both), so every cost record is counted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import faust
from faust.types import AgentT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.factory import make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.domain import budget
from cmo.domain.budget import BudgetConfig, BudgetPhase, BudgetStatus, accumulate, usage_percent
from cmo.domain.rollout_metrics import WindowStats
from cmo.events import CostRecorded
from processors.controller_agent import (
    DecisionPublisher,
    from_plain,
    internal_topic,
    require_control_key,
    status_table,
    to_plain,
    wall_clock_ms,
)
from processors.faust_app import EventDecoder, event_topic

logger = logging.getLogger(__name__)

SUBJECT = "budget"
FORWARD_AGENT = "budget-costs"
BUDGET_AGENT = "budget-decide"
DEFAULT_BUDGET_TICK_S = 60.0


def budget_config(settings: Settings) -> BudgetConfig:
    """The budgets the settings ask for (a 0 budget is not enforced)."""
    return BudgetConfig(daily_limit_usd=settings.lightrag_daily_budget or None,
                        monthly_limit_usd=settings.lightrag_monthly_budget or None,
                        alert_percent=settings.lightrag_cost_alert_threshold)


def spend_metrics(status: BudgetStatus, config: BudgetConfig, cost_usd: float) -> dict[str, float]:
    """The numbers a budget decision was made on (for ``ControllerDecision.metrics``)."""
    return {"day_usd": status.spend.day_usd, "month_usd": status.spend.month_usd,
            "usage_percent": usage_percent(status.spend, config), "cost_usd": cost_usd}


# -- the handler (no Faust) ---------------------------------------------------------------
class BudgetProcessor:
    """Adds costs to the spend and runs the budget controller; ``statuses`` is the table."""

    def __init__(self, publisher: DecisionPublisher, statuses: MutableMapping[str, Any],
                 config: BudgetConfig, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.publisher = publisher
        self.statuses = statuses
        self.config = config
        self.clock = clock

    @property
    def status(self) -> BudgetStatus:
        entry = self.statuses.get(SUBJECT)
        return from_plain(BudgetStatus, entry["status"]) if entry else BudgetStatus()

    def on_cost(self, usd: float, timestamp_ms: int, cause: str,
                source: tuple[int, int] | None = None) -> None:
        """One cost record of ``usd`` spent at ``timestamp_ms``; ``source`` is its
        (partition, offset) on the costs topic: a position already counted is skipped."""
        offsets = dict(self.statuses.get(SUBJECT, {}).get("offsets", {}))
        if source is not None:
            partition, offset = str(source[0]), source[1]
            if offset <= offsets.get(partition, -1):
                logger.debug("cost %s (partition %s offset %d) already counted", cause,
                             partition, offset)
                return
            offsets[partition] = offset
        before = self.status
        spent = replace(before, spend=accumulate(before.spend, timestamp_ms, usd))
        self._decide(before, spent, cause, usd, offsets)

    def on_tick(self) -> None:
        """Timer: judge the spend as of now (a new day or month may lift a stop)."""
        before = self.status
        self._decide(before, before, "timer", 0.0, self.statuses.get(SUBJECT, {}).get("offsets"))

    def needs_tick(self) -> bool:
        """True while only the passing of time can move the budget back (alerted, stopped)."""
        return SUBJECT in self.statuses and self.status.phase is not BudgetPhase.NORMAL

    def _decide(self, before: BudgetStatus, status: BudgetStatus, cause: str,
                cost_usd: float, offsets: Mapping[str, int] | None) -> None:
        # The cost is already in the spend: judge a window that adds nothing more.
        nothing_new = WindowStats(window_end_ms=status.last_window_end_ms)
        decision = budget.decide(status, nothing_new, self.clock(), self.config)
        if decision.status != before or cost_usd or SUBJECT not in self.statuses:
            self.statuses[SUBJECT] = {"status": to_plain(decision.status),
                                      "offsets": dict(offsets or {})}
        if decision.changed:
            self.publisher.publish("budget", SUBJECT, before.phase.value,
                                   decision.status.phase.value, decision,
                                   spend_metrics(decision.status, self.config, cost_usd), cause)


# -- the Faust adapter --------------------------------------------------------------------
def register_budget_agent(app: faust.App, settings: Settings, producer: DurableProducer, *,
                          config: BudgetConfig | None = None,
                          clock: Callable[[], int] = wall_clock_ms,
                          tick_interval_s: float = DEFAULT_BUDGET_TICK_S, dry_run: bool = False,
                          serializer: EventSerializer | None = None) -> list[AgentT[Any]]:
    """Add the budget agents and their timer to ``app``.

    Args:
        app: from :func:`processors.faust_app.create_app`.
        settings: topic prefix, partitions, budgets and CMO_CONTROL_KEY (required).
        producer: publishes decisions, alerts, signed commands and dead letters.
        config: the budgets; defaults to :func:`budget_config` of ``settings``.
        clock: milliseconds since the epoch (the controller's ``now_ms``).
        tick_interval_s: how often an alerted/stopped budget is re-judged without new costs.
        dry_run: decide and publish decisions, but write no control commands.
        serializer: decodes cost records; defaults to :func:`make_serializer`.

    Raises:
        ConfigError: CMO_CONTROL_KEY is not set.
    """
    config = config or budget_config(settings)
    publisher = DecisionPublisher(producer, require_control_key(settings), dry_run=dry_run,
                                  clock=clock)
    decoder = EventDecoder(serializer or make_serializer(settings), producer,
                           settings.kafka_topic_prefix)
    inputs = internal_topic(app, settings, "budget-input")
    processor = BudgetProcessor(publisher, status_table(app, settings, "budget-status"), config,
                                clock)
    key = SUBJECT.encode()

    async def forward_costs(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            current = stream.current_event
            event = decoder.decode(value, current)
            if current is not None and isinstance(event, CostRecorded) and event.usd > 0:
                message = current.message
                await inputs.send(key=key, value={"cost": event.usd, "time": event.event_time,
                                                  "cause": event.event_id,
                                                  "partition": message.partition,
                                                  "offset": message.offset})

    async def decide(stream: faust.StreamT[Any]) -> None:
        async for message in stream:
            if "cost" in message:
                processor.on_cost(float(message["cost"]), int(message["time"]),
                                  str(message.get("cause", "?")),
                                  (int(message["partition"]), int(message["offset"])))
            else:
                processor.on_tick()

    async def budget_timer() -> None:
        if processor.needs_tick():
            await inputs.send(key=key, value={"tick": clock()})

    costs = event_topic(app, settings, CostRecorded)
    agents: list[AgentT[Any]] = [app.agent(costs, name=FORWARD_AGENT)(forward_costs),
                                 app.agent(inputs, name=BUDGET_AGENT)(decide)]
    app.timer(tick_interval_s, name="budget-period")(budget_timer)
    logger.info("budget agent registered on %s (%s, tick %.0fs%s)", costs.get_topic_name(),
                config, tick_interval_s, ", dry run" if dry_run else "")
    return agents
