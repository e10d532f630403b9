-- The most asked questions.
SELECT
    query_text,
    count() AS queries,
    uniq(user_id) AS users,  -- adaptive sampling: exact for small counts, estimated for large
    max(event_time) AS last_asked
FROM query_received
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY query_text
ORDER BY queries DESC, query_text
LIMIT 20
