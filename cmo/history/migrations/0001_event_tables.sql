-- 0001: one ReplacingMergeTree table per event type (deduplicated on (event_time, event_id)),
-- partitioned by month; nested citations as Nested arrays; sink bookkeeping in _topic/_partition/_offset.

CREATE TABLE IF NOT EXISTS raw_alert
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `severity` LowCardinality(String),
    `kind` LowCardinality(String),
    `message` String,
    `details` Map(String, String),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_control_command
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `command` LowCardinality(String),
    `target` String,
    `value` String,
    `actor` String,
    `reason` LowCardinality(String),
    `signature` Nullable(String),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_controller_decision
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `controller` LowCardinality(String),
    `subject` String,
    `from_phase` LowCardinality(String),
    `to_phase` LowCardinality(String),
    `action` LowCardinality(String),
    `reason` LowCardinality(String),
    `metrics` Map(String, Float64),
    `dry_run` Bool,
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_cost_recorded
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `backend` LowCardinality(String),
    `model` LowCardinality(String),
    `operation` LowCardinality(String),
    `prompt_tokens` Int64,
    `completion_tokens` Int64,
    `embedding_tokens` Int64,
    `usd` Float64,
    `variant` LowCardinality(Nullable(String)),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_document_ingested
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `path` String,
    `status` LowCardinality(String),
    `content_hash` String,
    `title` Nullable(String),
    `doi` Nullable(String),
    `pages` Int32,
    `chunks` Int32,
    `reason` LowCardinality(Nullable(String)),
    `duration_ms` Float64,
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_quality_scored
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `response_event_id` String,
    `backend` LowCardinality(String),
    `relevance` Float64,
    `accuracy` Float64,
    `factual` Float64,
    `composite` Float64,
    `meets_threshold` Bool,
    `scorer` LowCardinality(String),
    `issues` Array(LowCardinality(String)),
    `variant` LowCardinality(Nullable(String)),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_query_received
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `session_id` String,
    `user_id` String,
    `query_text` String,
    `mode` LowCardinality(String),
    `language` LowCardinality(Nullable(String)),
    `channel` LowCardinality(String),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_response_generated
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `backend` LowCardinality(String),
    `mode` LowCardinality(String),
    `answer` String,
    `citations.document_id` Array(String),
    `citations.title` Array(String),
    `citations.page` Array(Nullable(Int32)),
    `citations.chunk_id` Array(String),
    `citations.score` Array(Float64),
    `citations.quote` Array(String),
    `citations.url` Array(Nullable(String)),
    `latency_ms` Float64,
    `error` Nullable(String),
    `error_kind` LowCardinality(Nullable(String)),
    `extractive` Bool,
    `cached` Bool,
    `is_fallback` Bool,
    `is_shadow` Bool,
    `index_version` LowCardinality(Nullable(String)),
    `question` Nullable(String),
    `variant` LowCardinality(Nullable(String)),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_routing_decision
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `backend` LowCardinality(String),
    `reason` LowCardinality(String),
    `user_id` String,
    `session_id` String,
    `cohort` LowCardinality(Nullable(String)),
    `variant` LowCardinality(Nullable(String)),
    `bucket` Nullable(Int32),
    `flag_version` Int64,
    `shadow_backend` LowCardinality(Nullable(String)),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_shadow_comparison
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `serving_backend` LowCardinality(String),
    `shadow_backend` LowCardinality(String),
    `similarity` Float64,
    `citation_overlap` Float64,
    `serving_latency_ms` Float64,
    `shadow_latency_ms` Float64,
    `serving_cost_usd` Float64,
    `shadow_cost_usd` Float64,
    `serving_quality` Nullable(Float64),
    `shadow_quality` Nullable(Float64),
    `serving_answer` String,
    `shadow_answer` String,
    `source` LowCardinality(String),
    `replay_run_id` Nullable(String),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_user_feedback
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `user_id` String,
    `session_id` String,
    `rating` Int32,
    `comment` Nullable(String),
    `response_event_id` Nullable(String),
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS raw_window_metrics
(
    `event_id` String,
    `event_time` DateTime64(3, 'UTC'),
    `correlation_id` String,
    `service` LowCardinality(String),
    `backend` LowCardinality(String),
    `variant` LowCardinality(Nullable(String)),
    `window_kind` LowCardinality(String),
    `window_start` DateTime64(3, 'UTC'),
    `window_end` DateTime64(3, 'UTC'),
    `requests` Int64,
    `errors` Int64,
    `timeouts` Int64,
    `error_rate` Float64,
    `timeout_rate` Float64,
    `latency_p50_ms` Nullable(Float64),
    `latency_p95_ms` Nullable(Float64),
    `latency_p99_ms` Nullable(Float64),
    `quality_mean` Nullable(Float64),
    `quality_count` Int64,
    `cost_usd` Float64,
    `_topic` LowCardinality(String),
    `_partition` Int32,
    `_offset` Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);
