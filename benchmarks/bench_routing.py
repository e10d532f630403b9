"""Flag evaluation speed and router overhead (printed figures, not a test).

* ``route()`` evaluations per second and per-call p50/p99 over 200,000 distinct users,
  beside a bare ``mmh3.hash`` call (the floor) in the same run;
* router overhead per query, backend time excluded: the flag decision with the fast-path
  breaker plus the QueryReceived and RoutingDecision events published through the durable
  producer (outbox write included), p50/p99 over 20,000 queries.
Targets (issue 5): evaluation p99 under 20 µs; router overhead p99 under 1 ms.

Usage: .venv/bin/python benchmarks/bench_routing.py   (no broker needed: events wait in the outbox)
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

import mmh3

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
from cmo.adapters.factory import schema_dir
from cmo.adapters.publisher import DurableProducer
from cmo.domain.flags import Experiment, FlagContext, FlagState, Variant, route
from cmo.events import QueryReceived, RoutingDecision


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 100 else max(values)


def main() -> None:
    import logging

    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
    logging.getLogger("cmo").setLevel(logging.ERROR)
    users = [FlagContext(user_id=f"user-{i}", session_id=f"s-{i}") for i in range(200_000)]
    states = {
        "rollout 30%": FlagState(rollout_percentage=30),
        "A/B + canary": FlagState(rollout_percentage=30, canary_percentage=5,
                                  experiment=Experiment("ab", (Variant("a", 50, "perplexity"), Variant("b", 50)))),
    }
    start = time.perf_counter()
    for c in users:
        mmh3.hash(f"lightrag:{c.user_id}", 0, signed=False)
    floor = (time.perf_counter() - start) / len(users) * 1e6
    print(f"bare mmh3.hash: {floor:.2f} µs/call")
    for name, state in states.items():
        start = time.perf_counter()
        for c in users:
            route(state, c)
        total = time.perf_counter() - start
        samples = []
        for c in users[:50_000]:
            t = time.perf_counter_ns()
            route(state, c)
            samples.append((time.perf_counter_ns() - t) / 1000)
        print(f"route() [{name}]: {len(users) / total:,.0f} evaluations/s; p50 {pct(samples, 50):.2f} µs, "
              f"p99 {pct(samples, 99):.2f} µs ({pct(samples, 99) / floor:.1f}x the bare hash)"
              f"  target p99 < 20 µs: {'MET' if pct(samples, 99) < 20 else 'NOT MET'}")

    with tempfile.TemporaryDirectory() as tmp:
        producer = DurableProducer("127.0.0.1:1", SingleObjectSerializer(SchemaStore(schema_dir())),
                                   Path(tmp) / "outbox.db")
        state = states["rollout 30%"]
        overhead = []
        for i in range(20_000):
            t = time.perf_counter_ns()
            qid, ctx = str(uuid.uuid4()), users[i]
            now = int(time.time() * 1000)
            producer.publish(QueryReceived(event_id=str(uuid.uuid4()), event_time=now, correlation_id=qid,
                                           service="router", session_id=ctx.session_id or "",
                                           user_id=ctx.user_id or "", query_text="Which metabolites rise?"))
            decided = route(state, ctx)
            producer.publish(RoutingDecision(event_id=str(uuid.uuid4()), event_time=now, correlation_id=qid,
                                             service="router", backend=decided.backend, reason=decided.reason,
                                             user_id=ctx.user_id or "", bucket=decided.bucket,
                                             flag_version=state.version))
            overhead.append((time.perf_counter_ns() - t) / 1e6)
        producer.close(timeout=0.1)
    p99 = pct(overhead, 99)
    print(f"router overhead (decision + 2 durable events): p50 {pct(overhead, 50):.3f} ms, p99 {p99:.3f} ms"
          f"  target p99 < 1 ms: {'MET' if p99 < 1 else 'NOT MET'}")


if __name__ == "__main__":
    main()
