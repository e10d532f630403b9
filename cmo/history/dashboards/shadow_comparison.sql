-- Shadow comparisons per day and backend pair: agreement, latency and quality deltas.
SELECT
    toDate(event_time) AS day,
    concat(serving_backend, ' vs ', shadow_backend) AS pair,
    count() AS comparisons,
    round(avg(similarity), 4) AS mean_similarity,
    round(avg(citation_overlap), 4) AS mean_citation_overlap,
    round(avg(shadow_latency_ms - serving_latency_ms), 2) AS mean_latency_delta_ms,
    round(avg(shadow_quality - serving_quality), 4) AS mean_quality_delta,
    countIf(shadow_quality > serving_quality) AS shadow_wins
FROM shadow_comparison
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY day, pair
ORDER BY day, pair
