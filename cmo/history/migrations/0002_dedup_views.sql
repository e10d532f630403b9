-- 0002: one view per event type that reads its table deduplicated (FINAL): query these.

CREATE VIEW IF NOT EXISTS alert AS SELECT * FROM raw_alert FINAL;

CREATE VIEW IF NOT EXISTS control_command AS SELECT * FROM raw_control_command FINAL;

CREATE VIEW IF NOT EXISTS controller_decision AS SELECT * FROM raw_controller_decision FINAL;

CREATE VIEW IF NOT EXISTS cost_recorded AS SELECT * FROM raw_cost_recorded FINAL;

CREATE VIEW IF NOT EXISTS document_ingested AS SELECT * FROM raw_document_ingested FINAL;

CREATE VIEW IF NOT EXISTS quality_scored AS SELECT * FROM raw_quality_scored FINAL;

CREATE VIEW IF NOT EXISTS query_received AS SELECT * FROM raw_query_received FINAL;

CREATE VIEW IF NOT EXISTS response_generated AS SELECT * FROM raw_response_generated FINAL;

CREATE VIEW IF NOT EXISTS routing_decision AS SELECT * FROM raw_routing_decision FINAL;

CREATE VIEW IF NOT EXISTS shadow_comparison AS SELECT * FROM raw_shadow_comparison FINAL;

CREATE VIEW IF NOT EXISTS user_feedback AS SELECT * FROM raw_user_feedback FINAL;

CREATE VIEW IF NOT EXISTS window_metrics AS SELECT * FROM raw_window_metrics FINAL;
