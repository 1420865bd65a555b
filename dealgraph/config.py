"""One typed settings object, read from the environment, so every knob is documented in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("dealgraph")) / "postgres"


class Settings(BaseSettings):
    """Runtime configuration; env vars are `DEALGRAPH_<FIELD>` unless an alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix="DEALGRAPH_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DEALGRAPH_DATABASE_URL"),
        description="PostgreSQL URL (postgresql://…). Unset: start the embedded PostgreSQL.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Embedded PostgreSQL data directory (only used without DATABASE_URL).",
    )
    app_role: str = Field(
        default="dealgraph_app",
        description="Role each tenant transaction switches to; it never bypasses row-level security.",
    )
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept per process.")
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=8000, description="Port `serve` binds to.")
    graphiql: bool = Field(default=True, description="Serve the GraphiQL IDE on GET /graphql.")
    auto_migrate: bool = Field(default=True, description="`serve` applies pending migrations at start-up.")
    max_transcript_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1, description="Largest transcript accepted by addTranscript."
    )
    max_page_size: int = Field(default=100, ge=1, description="Upper bound for `first` on connections.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or as JSON objects (request id, tenant id, operation, duration)."
    )

    anthropic_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "DEALGRAPH_ANTHROPIC_API_KEY"),
        description="Claude API key. Unset: `serve` starts the local Messages API stand-in (simulated output).",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "DEALGRAPH_ANTHROPIC_BASE_URL"),
        description="Messages API base URL (e.g. a running `dealgraph llm-standin`).",
    )
    llm_model: str = Field(default="claude-sonnet-5-5", description="Model of the built-in prompts.")
    allowed_models: list[str] = Field(
        default=["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"],
        description="Models a prompt version may use (JSON list); the built-in model is always allowed.",
    )
    llm_max_tokens: int = Field(default=4096, ge=256, le=64000, description="Output token cap per agent call.")
    llm_timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one Messages API request.")
    llm_max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx/529/connection errors.")
    llm_concurrency: int = Field(
        default=8, ge=1, description="Agent runs executing at once across ALL processes (protects the rate limit)."
    )
    worker_slots: int = Field(default=8, ge=0, description="Agent runs one process executes at once (0: no worker).")
    lease_s: float = Field(default=30.0, gt=0, description="A claimed run is re-claimed if its worker is silent this long.")
    max_run_attempts: int = Field(default=3, ge=1, description="Claims of one run before it fails as WORKER_LOST.")
    poll_interval_s: float = Field(default=1.0, gt=0, description="Fallback poll for runs (NOTIFY wakes workers at once).")
    progress_interval_s: float = Field(default=0.25, gt=0, description="Minimum time between progress events of a run.")
    standin_port: int = Field(default=0, description="Port of the stand-in `serve` starts without an API key (0: any).")
    standin_latencies: dict[str, float] = Field(
        default={"meeting_intelligence": 1.5, "action_items": 2.5, "stakeholders": 3.5, "meddpicc": 4.5},
        description="Simulated seconds per agent of that auto-started stand-in (JSON object).",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
