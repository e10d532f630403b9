-- Document ingestion outcomes per day and status.
SELECT
    toDate(event_time) AS day,
    status,
    count() AS documents,
    sum(pages) AS pages,
    sum(chunks) AS chunks,
    round(avg(duration_ms), 1) AS mean_duration_ms
FROM document_ingested
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY day, status
ORDER BY day, status
