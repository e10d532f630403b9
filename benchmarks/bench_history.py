"""History benchmark (printed figures, not a test).

1. Sink throughput: events of five types (queries, routing, responses with two citations,
   quality, costs), pre-encoded as Avro and produced to a real local broker, then consumed
   by HistorySink into a fresh chDB; rows/s from the first consumed event to the last
   committed batch (group join excluded).
2. Dashboard latency: every dashboard table gets --rows synthetic rows (default
   10,000,000 each, over 30 days) generated inside ClickHouse with INSERT ... SELECT ...
   FROM numbers(); then each dashboard query runs --repeat times over the whole 30 days and
   over the last 24 hours, through the same read-only path as the API (FINAL views).
Targets (issue 7): sink >= 100,000 rows/s; every dashboard p95 < 300 ms at 10M rows.

Usage: .venv/bin/python benchmarks/bench_history.py [--events N] [--rows N] [--repeat N]
       [--skip-sink] [--skip-queries] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
from cmo.adapters.factory import schema_dir
from cmo.adapters.kafka_admin import create_topics
from cmo.adapters.local_broker import LocalBroker, default_libs_dir
from cmo.adapters.publisher import producer_config
from cmo.config import Settings
from cmo.events import (
    Citation,
    CostRecorded,
    Event,
    QualityScored,
    QueryReceived,
    ResponseGenerated,
    RoutingDecision,
)
from cmo.history.client import open_chdb
from cmo.history.dashboards import DASHBOARDS, run_dashboard
from cmo.history.migrations import migrate
from cmo.history.sink import HistorySink
from cmo.topics import topic_name, topic_specs

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_MS = 30 * 24 * 3_600_000
BUDGETS = {"daily_budget": 10.0, "monthly_budget": 200.0}


def mixed_events(n: int) -> list[Event]:
    base = int(time.time() * 1000)
    out: list[Event] = []
    cites = (Citation(document_id="d1", title="Paper", page=3, chunk_id="c1", score=0.9, quote="q"),
             Citation(document_id="d2", title="Paper 2", page=7, chunk_id="c2", score=0.8, quote="q2"))
    for i in range(n):
        env = {"event_id": str(uuid.uuid4()), "event_time": base + i, "correlation_id": f"q{i // 5}",
               "service": "bench"}
        kind = i % 5
        if kind == 0:
            out.append(QueryReceived(**env, session_id="s", user_id=f"u{i % 97}",
                                     query_text="Which metabolites rise in MSUD?"))
        elif kind == 1:
            out.append(RoutingDecision(**env, backend="lightrag", reason="rollout", user_id="u",
                                       flag_version=3))
        elif kind == 2:
            out.append(ResponseGenerated(**env, backend="lightrag", mode="hybrid", answer="An answer.",
                                         citations=cites, latency_ms=float(i % 900)))
        elif kind == 3:
            out.append(QualityScored(**env, response_event_id="r", backend="lightrag", relevance=0.8,
                                     accuracy=0.7, factual=0.9, composite=0.8, meets_threshold=True,
                                     scorer="offline"))
        else:
            out.append(CostRecorded(**env, backend="lightrag", model="gpt-4o-mini", operation="query",
                                    prompt_tokens=120, completion_tokens=80, usd=0.0004))
    return out


def bench_sink(bootstrap: str, n: int, tmp: Path, batch_size: int) -> None:
    prefix = f"hb{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, topic_specs(prefix, 3, 3_600_000))
    ser = SingleObjectSerializer(SchemaStore(schema_dir()))
    producer = Producer(producer_config(bootstrap))
    for event in mixed_events(n):
        value = ser.encode(event)
        while True:
            try:
                producer.produce(topic_name(prefix, event), value, event.key.encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    settings = Settings(_env_file=None, cmo_home=tmp / "home",  # type: ignore[call-arg]
                        kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix,
                        cmo_history_batch_size=batch_size)
    with open_chdb(tmp / "sink-history") as store:
        migrate(store)
        with HistorySink(settings, store) as sink:
            stats = sink.run(once=True)
    seconds = stats.last_flush_at - stats.first_event_at
    rate = stats.inserted / seconds
    print(f"sink: {stats.inserted:,} rows of 5 event types in {seconds:.2f}s = {rate:,.0f} rows/s "
          f"({stats.batches} batches of <= {settings.cmo_history_batch_size:,}, offsets committed "
          f"after each insert)")
    print(f"target >= 100,000 rows/s: {'MET' if rate >= 100_000 else 'NOT MET'}")


def _t(offset: str, n: int) -> str:
    return (f"toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + "
            f"toIntervalMillisecond(intDiv(({offset}) * {SPAN_MS}, {n}))")


def synthetic_inserts(n: int) -> dict[str, str]:
    """INSERT ... SELECT FROM numbers(n) for every table a dashboard reads."""
    t = _t("number", n)
    env = "toString(generateUUIDv4()), " + t + ", concat('q-', toString(intDiv(number, 3))), 'bench'"
    head = "event_id, event_time, correlation_id, service"
    return {
        "raw_routing_decision": f"({head}, backend, reason, user_id, flag_version) SELECT {env}, "
        "['lightrag','perplexity'][1 + number % 2], ['rollout','default','canary','breaker-open'][1 + number % 4], "
        "concat('u', toString(number % 5000)), 1 FROM numbers({n})",
        "raw_response_generated": f"({head}, backend, mode, answer, latency_ms, error, is_shadow) "
        f"SELECT {env}, ['lightrag','perplexity'][1 + number % 2], 'hybrid', 'an answer', "
        "100 + (number * 7919) % 2000, if(number % 29 = 0, 'timeout', NULL), number % 50 = 0 FROM numbers({n})",
        "raw_quality_scored": f"({head}, response_event_id, backend, relevance, accuracy, factual, composite, "
        f"meets_threshold, scorer) SELECT {env}, 'r', ['lightrag','perplexity'][1 + number % 2], "
        "(number % 100) / 100, (number % 70) / 70, (number % 90) / 90, 0.5, number % 3 > 0, 'offline' "
        "FROM numbers({n})",
        "raw_cost_recorded": f"({head}, backend, model, operation, prompt_tokens, completion_tokens, usd) "
        f"SELECT {env}, ['lightrag','perplexity','judge'][1 + number % 3], "
        "['gpt-4o-mini','sonar','local'][1 + number % 3], 'query', 100, 50, 0.0001 * (1 + number % 7) "
        "FROM numbers({n})",
        "raw_query_received": f"({head}, session_id, user_id, query_text) SELECT {env}, 's', "
        "concat('u', toString(number % 5000)), concat('question number ', toString((number * 7) % 10000)) "
        "FROM numbers({n})",
        "raw_user_feedback": f"({head}, user_id, session_id, rating) SELECT {env}, 'u', 's', "
        "if(number % 4 = 0, -1, 1) FROM numbers({n})",
        "raw_shadow_comparison": f"({head}, serving_backend, shadow_backend, similarity, citation_overlap, "
        f"serving_latency_ms, shadow_latency_ms, serving_quality, shadow_quality) SELECT {env}, "
        "'perplexity', 'lightrag', (number % 100) / 100, (number % 10) / 10, 900, 400 + number % 900, "
        "0.8, (number % 100) / 100 FROM numbers({n})",
        "raw_controller_decision": f"({head}, controller, subject, from_phase, to_phase, action, reason, "
        f"metrics) SELECT {env}, ['rollout','breaker','budget'][1 + number % 3], 'lightrag', 'stage-5', "
        "'stage-25', 'promote', 'healthy', map('error_rate', (number % 10) / 100) FROM numbers({n})",
        "raw_document_ingested": f"({head}, path, status, content_hash, pages, chunks, duration_ms) "
        f"SELECT {env}, concat('p', toString(number), '.pdf'), ['indexed','unchanged','failed'][1 + number % 3], "
        "'h', 10, 40, 800 FROM numbers({n})",
    }


def _wait_for_merges(store_read: object, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = store_read("SELECT count() FROM system.merges").result_rows[0][0]  # type: ignore[operator]
        if not busy:
            return
        time.sleep(1)


def bench_queries(rows: int, repeat: int, tmp: Path) -> None:
    with open_chdb(tmp / "query-history") as store:
        migrate(store)
        t0 = time.perf_counter()
        for table, sql in synthetic_inserts(rows).items():
            store.command(f"INSERT INTO {table} {sql.replace('{n}', str(rows))}")
        print(f"generated {rows:,} rows in each of 9 tables in {time.perf_counter() - t0:.1f}s")
        _wait_for_merges(store.query)
        windows = {"30 days": (START, START + timedelta(days=30)),
                   "last 24 h": (START + timedelta(days=29), START + timedelta(days=30))}
        met = True
        print(f"{'dashboard':<20} {'window':<10} {'rows out':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for dash in DASHBOARDS:
            for label, (lo, hi) in windows.items():
                times = []
                for _ in range(repeat):
                    out = run_dashboard(store, dash, lo, hi, BUDGETS)
                    times.append(out.elapsed_ms)
                p50 = statistics.median(times)
                p95 = statistics.quantiles(times, n=20)[18] if len(times) >= 2 else times[0]
                met = met and p95 < 300
                print(f"{dash.name:<20} {label:<10} {len(out.rows):>8} {p50:>8.1f} {p95:>8.1f}")
        print(f"target every dashboard p95 < 300 ms at {rows:,} rows: {'MET' if met else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=Settings().cmo_history_batch_size)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--skip-sink", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sink:
            broker = None
            bootstrap = args.bootstrap
            if bootstrap is None:
                broker = LocalBroker(Path(tmp) / "kafka", default_libs_dir(), port=29192,
                                     controller_port=29193)
                bootstrap = broker.start(timeout=120).bootstrap_servers
            try:
                bench_sink(bootstrap, args.events, Path(tmp), args.batch_size)
            finally:
                if broker:
                    broker.stop()
        if not args.skip_queries:
            bench_queries(args.rows, args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
