-- Controller decisions (rollout stages, breaker, A/B, budget), newest first (the last 1000).
SELECT
    event_time AS time,
    controller,
    subject,
    from_phase,
    to_phase,
    action,
    reason,
    toJSONString(metrics) AS metrics,
    dry_run
FROM controller_decision
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
ORDER BY time DESC, event_id DESC
LIMIT 1000
