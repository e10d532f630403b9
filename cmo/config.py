"""Settings from the environment and ``.env`` (pydantic-settings), with one checker.

Variable names are the project's established ones (see ``.env.example``). Profiles:
``ENVIRONMENT=development|staging|production`` also loads ``.env.<environment>`` and
makes production refuse embedded defaults (local broker, chDB, no control key).
Built once at an entry point and passed down; secrets are ``SecretStr`` and never
printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cmo.exceptions import ConfigError

Environment = Literal["development", "staging", "production"]


class Settings(BaseSettings):
    """Every setting of the system; field ``foo_bar`` is read from env ``FOO_BAR``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Environment = "development"
    cmo_home: Path = Field(Path("var"), description="Local state: broker data, outbox, chDB.")

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = Field("cmo", pattern=r"^[A-Za-z0-9._-]+$")
    kafka_partitions: int = Field(3, ge=1, le=1000)
    kafka_retention_ms: int = Field(30 * 24 * 3600 * 1000, ge=-1)
    kafka_message_timeout_ms: int = Field(0, ge=0, description="0 = never give up (keeps per-key order)")
    schema_registry_url: str | None = None
    cmo_outbox_path: Path | None = Field(None, description="SQLite outbox; default <home>/outbox.db")

    # LightRAG and models
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_chat_model: str = "gpt-4o-mini"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_dim: int = Field(1536, ge=1)
    openai_concurrency: int = Field(4, ge=1, le=64)
    openai_timeout_s: float = Field(60.0, gt=0)
    openai_max_retries: int = Field(4, ge=0, le=20)
    perplexity_api_key: SecretStr | None = None
    perplexity_model: str = "sonar"
    perplexity_base_url: str = "https://api.perplexity.ai"
    perplexity_timeout_s: float = Field(30.0, gt=0)
    router_lightrag_timeout_s: float = Field(30.0, gt=0)
    router_breaker_threshold: int = Field(5, ge=1)
    router_breaker_cooldown_ms: int = Field(10_000, ge=100)
    lightrag_working_dir: Path = Path("var/lightrag")
    lightrag_papers_dir: Path = Path("examples/papers")
    lightrag_embedding_backend: Literal["auto", "local", "openai"] = "auto"
    lightrag_kv_storage: str = "JsonKVStorage"
    lightrag_vector_storage: str = "NanoVectorDBStorage"
    lightrag_graph_storage: str = "NetworkXStorage"
    lightrag_top_k: int = Field(5, ge=1, le=50)
    lightrag_chunk_tokens: int = Field(300, ge=50, le=2000)
    lightrag_enabled: bool = True
    lightrag_rollout_percentage: float = Field(0.0, ge=0, le=100)
    lightrag_quality_threshold: float = Field(0.8, ge=0, le=1)
    lightrag_circuit_breaker: bool = True
    cmo_quality_scorer: Literal["auto", "offline", "llm"] = "auto"
    cmo_quality_inline_budget_ms: int = Field(1500, ge=10)
    lightrag_daily_budget: float = Field(10.0, ge=0)
    lightrag_monthly_budget: float = Field(200.0, ge=0)
    lightrag_cost_alert_threshold: float = Field(80.0, gt=0, le=100)

    # Knowledge-base HTTP service
    rag_service_url: str = "http://127.0.0.1:8600"
    rag_max_upload_mb: int = Field(50, ge=1, le=2000)

    # Chat UI (Chainlit)
    cmo_ui_host: str = "127.0.0.1"
    cmo_ui_port: int = Field(8000, ge=1, le=65535)
    cmo_users_file: Path | None = Field(None, description="bcrypt users file; default <home>/users.json")
    cmo_user_id_key: SecretStr | None = None          # HMAC key: events carry HMAC(login), never the login
    cmo_ui_header_auth: str | None = None             # header a trusted proxy sets to the login (opt-in)
    cmo_ui_timeout_s: float = Field(120.0, gt=0)

    # History and ops
    clickhouse_url: str | None = None
    clickhouse_database: str = Field("cmo", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    cmo_history_path: Path | None = Field(None, description="chDB data dir; default <home>/history")
    cmo_history_batch_size: int = Field(10_000, ge=1, le=1_000_000)  # sink flushes at this many rows
    cmo_history_batch_ms: int = Field(1_000, ge=10)  # ... or when the oldest buffered row is this old
    cmo_workers_base_port: int = Field(6066, ge=1024, le=65000)  # worker health ports count up from here
    cmo_alert_webhook_url: SecretStr | None = None   # Slack-style incoming webhook (a secret URL)
    cmo_alert_smtp_host: str | None = None
    cmo_alert_smtp_port: int = Field(587, ge=1, le=65535)
    cmo_alert_smtp_starttls: bool = True
    cmo_alert_smtp_user: str | None = None
    cmo_alert_smtp_password: SecretStr | None = None
    cmo_alert_email_from: str | None = None
    cmo_alert_email_to: str | None = None             # comma-separated
    cmo_alert_min_severity: Literal["info", "warning", "critical"] = "warning"
    cmo_control_key: SecretStr | None = None

    @property
    def outbox_path(self) -> Path:
        return self.cmo_outbox_path or self.cmo_home / "outbox.db"

    @property
    def users_path(self) -> Path:
        return self.cmo_users_file or self.cmo_home / "users.json"

    @property
    def broker_home(self) -> Path:
        return self.cmo_home / "kafka"

    @property
    def history_path(self) -> Path:
        return self.cmo_history_path or self.cmo_home / "history"


def load_settings(**overrides: Any) -> Settings:
    """Read settings (env, ``.env``, ``.env.<ENVIRONMENT>``); raise ConfigError listing all problems."""
    env = os.environ.get("ENVIRONMENT", "development")
    try:
        return Settings(_env_file=(".env", f".env.{env}"), **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None


def _describe(err: object) -> str:
    detail = err if isinstance(err, dict) else {}
    loc = detail.get("loc") or ("?",)
    var = str(loc[0]).upper()
    value = detail.get("input")
    shown = "" if "KEY" in var or "SECRET" in var else f" (got {value!r})"
    return f"{var}: {detail.get('msg', 'invalid')}{shown}"


def check_settings(settings: Settings) -> list[str]:
    """Problems that only show against the machine: paths, profile rules, URLs."""
    problems: list[str] = []
    for var, path in (("CMO_HOME", settings.cmo_home), ("LIGHTRAG_WORKING_DIR", settings.lightrag_working_dir)):
        problem = _unwritable(path)
        if problem:
            problems.append(f"{var}: {path} {problem}")
    if not settings.lightrag_papers_dir.is_dir():
        problems.append(f"LIGHTRAG_PAPERS_DIR: {settings.lightrag_papers_dir} is not a directory")
    for var, url in (("CLICKHOUSE_URL", settings.clickhouse_url),
                     ("SCHEMA_REGISTRY_URL", settings.schema_registry_url),
                     ("OPENAI_BASE_URL", settings.openai_base_url)):
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"{var}: must be an http(s) URL (got {url!r})")
    if settings.environment == "production":
        if settings.cmo_control_key is None:
            problems.append("CMO_CONTROL_KEY: required in production (control commands are signed)")
        if settings.clickhouse_url is None:
            problems.append("CLICKHOUSE_URL: required in production (embedded chDB is for development)")
        if settings.kafka_bootstrap_servers.startswith(("127.", "localhost")):
            problems.append("KAFKA_BOOTSTRAP_SERVERS: production must not use the local broker")
    if settings.lightrag_daily_budget > settings.lightrag_monthly_budget > 0:
        problems.append("LIGHTRAG_DAILY_BUDGET: larger than LIGHTRAG_MONTHLY_BUDGET")
    return problems


def _unwritable(path: Path) -> str | None:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return "has no existing parent directory"
        probe = probe.parent
    if not probe.is_dir():
        return f"is not a directory ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"is not writable ({probe})"
    return None


def checked_settings(**overrides: Any) -> Settings:
    """Load and check; raise one ConfigError naming every problem."""
    settings = load_settings(**overrides)
    problems = check_settings(settings)
    if problems:
        raise ConfigError(problems)
    return settings
