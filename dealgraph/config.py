"""One typed settings object, read from the environment, so every knob is documented in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
