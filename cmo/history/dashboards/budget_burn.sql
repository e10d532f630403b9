-- Budget burn-down: spend per day, month-to-date (UTC calendar month, counting days before
-- the range too) and what is left of the monthly budget. The service fills in the budgets
-- from LIGHTRAG_DAILY_BUDGET and LIGHTRAG_MONTHLY_BUDGET.
SELECT day, spend_usd, month_to_date_usd, daily_budget_usd, monthly_budget_usd,
       round(monthly_budget_usd - month_to_date_usd, 6) AS remaining_usd
FROM
(
    SELECT
        toDate(event_time) AS day,
        round(sum(usd), 6) AS spend_usd,
        round(sum(sum(usd)) OVER (PARTITION BY toStartOfMonth(day) ORDER BY day), 6) AS month_to_date_usd,
        {daily_budget:Float64} AS daily_budget_usd,
        {monthly_budget:Float64} AS monthly_budget_usd
    FROM cost_recorded
    WHERE event_time >= toStartOfMonth({start:DateTime64(3)}) AND event_time < {end:DateTime64(3)}
    GROUP BY day
)
WHERE day >= toDate({start:DateTime64(3)})
ORDER BY day
