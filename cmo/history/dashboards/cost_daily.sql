-- Spend per day, backend and model.
SELECT
    toDate(event_time) AS day,
    backend,
    model,
    concat(backend, ' / ', model) AS series,
    count() AS records,
    sum(prompt_tokens + completion_tokens + embedding_tokens) AS tokens,
    round(sum(usd), 6) AS usd
FROM cost_recorded
WHERE event_time >= {start:DateTime64(3)} AND event_time < {end:DateTime64(3)}
GROUP BY day, backend, model
ORDER BY day, backend, model
