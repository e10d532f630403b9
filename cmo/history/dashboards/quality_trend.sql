-- Mean quality scores per day and backend.
SELECT
    toDate(event_time) AS day,
    backend,
    count() AS scored,
    round(avg(relevance), 4) AS relevance,
    round(avg(accuracy), 4) AS accuracy,
    round(avg(factual), 4) AS factual,
    round(avg(composite), 4) AS composite,
    round(countIf(meets_threshold) / scored, 4) AS meets_threshold_ratio
FROM quality_scored
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY day, backend
ORDER BY day, backend
