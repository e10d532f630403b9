-- Thumbs up and down per day, and the share of thumbs up.
SELECT
    toDate(event_time) AS day,
    countIf(rating > 0) AS thumbs_up,
    countIf(rating < 0) AS thumbs_down,
    round(thumbs_up / nullIf(thumbs_up + thumbs_down, 0), 4) AS positive_ratio
FROM user_feedback
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY day
ORDER BY day
