-- Answer latency percentiles (exact) per hour and backend; shadow answers excluded.
SELECT
    hour, backend, responses, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms
FROM
(
    SELECT
        toStartOfHour(event_time) AS hour,
        backend,
        count() AS responses,
        quantilesExact(0.5, 0.95, 0.99)(latency_ms) AS q
    FROM response_generated
    WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
      AND NOT is_shadow
    GROUP BY hour, backend
)
ORDER BY hour, backend
