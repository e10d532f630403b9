-- Routed queries per hour by backend and routing reason.
SELECT
    toStartOfHour(event_time) AS hour,
    backend,
    reason,
    concat(backend, ' / ', reason) AS series,
    count() AS requests
FROM routing_decision
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY hour, backend, reason
ORDER BY hour, backend, reason
