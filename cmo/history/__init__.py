"""Event history in ClickHouse: sink from Kafka, migrations, dashboards, read-only SQL, API."""
