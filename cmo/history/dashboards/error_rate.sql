-- Answers (shadow answers excluded) and the share that failed, per hour and backend.
SELECT
    toStartOfHour(event_time) AS hour,
    backend,
    count() AS responses,
    countIf(error IS NOT NULL) AS errors,
    round(errors / responses, 4) AS error_rate
FROM response_generated
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
  AND NOT is_shadow
GROUP BY hour, backend
ORDER BY hour, backend
