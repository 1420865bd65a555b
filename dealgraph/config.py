"""One typed settings object, read from the environment, so every knob is documented in one place."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

RENAMED_ENV: dict[str, str] = {}
"""Old environment names still accepted, each with the name that replaced it."""


def _renamed(new: str, old: str) -> AliasChoices:
    """Read `new`, or else the deprecated `old` (`adopt_renamed_environment` warns about it)."""
    RENAMED_ENV[old] = new
    return AliasChoices(new, old)


def adopt_renamed_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Warn once about each deprecated name in the environment, and move its value to the new name (a new name
    set too wins, as it does in `Settings`): the processes this one starts then see only new names, so the
    warning is not repeated by each of them."""
    for name in [name for name in environ if name.upper() in RENAMED_ENV]:
        new = RENAMED_ENV[name.upper()]
        log.warning("%s is deprecated: use %s", name, new)
        value = environ.pop(name)
        if not any(other.upper() == new for other in environ):
            environ[new] = value


def variable_named(location: str, environ: Mapping[str, str] = os.environ) -> str:
    """The environment variable a validation error's location stands for, as the user spelled it: pydantic names
    a field by its first alias (the new name) even when the value came from a deprecated one."""
    variable = location if location.isupper() else f"DEALGRAPH_{location.upper()}"
    if variable not in environ:
        variable = next((old for old, new in RENAMED_ENV.items() if new == variable and old in environ), variable)
    return variable


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("dealgraph")) / "postgres"


class Settings(BaseSettings):
    """Runtime configuration; env vars are `DEALGRAPH_<FIELD>` unless an alias says otherwise."""

    # validate_by_name: fields with an alias are still set by their name in code (`Settings(analysis_slots=0)`)
    model_config = SettingsConfigDict(env_prefix="DEALGRAPH_", extra="ignore", validate_by_name=True)

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
    db_pool_timeout_s: float = Field(
        default=10.0, gt=0, description="Wait for a free pooled connection before TOO_MANY_REQUESTS."
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `serve` binds to.")
    api_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=_renamed("DEALGRAPH_API_PROCESSES", "DEALGRAPH_WORKERS"),
        description="API processes `serve` runs (default: one per core); with more than one, the analysis pool "
        "runs in a process of its own.",
    )
    graphiql: bool = Field(default=True, description="Serve the GraphiQL IDE on GET /graphql.")
    auto_migrate: bool = Field(default=True, description="`serve` applies pending migrations at start-up.")
    max_transcript_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1, description="Largest transcript accepted by addTranscript."
    )
    compiled_reads: bool = Field(
        default=True,
        description="Answer queries over deals, accounts and transcripts that need no resolver with one SQL statement "
        "(dealgraph/schema/compiled_reads/); false: every query runs through the resolvers.",
    )
    max_page_size: int = Field(default=100, ge=1, description="Upper bound for `first` on connections.")
    settle_heap: bool = Field(
        default=True,
        description="Freeze the start-up heap out of garbage collection and run full collections on a schedule "
        "(dealgraph/server/heap.py); off, Python's collector runs as usual.",
    )
    full_collection_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between full garbage collections while serving; younger generations are collected "
        "as usual (see dealgraph/server/heap.py).",
    )
    recycle_after_sockets: int = Field(
        default=1000,
        ge=0,
        description="With `serve --api-processes N`: an API process that held this many WebSockets at once restarts when "
        "the last one has left and it grew by `recycle_growth_mb`, giving the memory back; 0: never.",
    )
    recycle_growth_mb: float = Field(
        default=64.0, ge=0, description="Growth since the first WebSocket that makes an emptied API process restart."
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="Enables `/metrics` (Prometheus text format), answered only to `Authorization: Bearer <token>`; "
        "unset: no `/metrics`, and nothing is recorded.",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or as JSON objects (request id, tenant id, operation, duration).",
    )

    # WebSockets: how long and how many unauthenticated sockets a client may hold.
    ws_init_timeout_s: float = Field(
        default=5.0, gt=0, description="A WebSocket that sends no `connection_init` this long is closed (4408)."
    )
    ws_max_pending_per_address: int = Field(
        default=20,
        ge=1,
        description="WebSockets one client address may hold before `connection_init`; more are closed (1013).",
    )

    # Request limits: refused before any resolver runs (see dealgraph/server/limits.py).
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest HTTP request body (query plus variables), and WebSocket message; above it: 413 "
        "PAYLOAD_TOO_LARGE (a WebSocket closes 1009).",
    )
    request_header_timeout_s: float = Field(
        default=10.0, gt=0, description="A connection whose request headers are not complete this long is closed."
    )
    request_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="An authenticated request whose body has not fully arrived this long is refused: 408 "
        "REQUEST_TIMEOUT.",
    )
    shutdown_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="After SIGTERM, how long requests and WebSockets under way may take to finish; then they are cut, "
        "the process's claimed agent runs are handed back to the queue, and it exits. Each step of that stop "
        "(runs ending, handing them back, closing connections) gets as long again, then is left behind with a "
        "WARNING.",
    )
    max_query_chars: int = Field(
        default=100_000,
        ge=1000,
        description="Longest GraphQL document in characters, comments and whitespace included (HTTP and WebSocket); "
        "above it: QUERY_TOO_COMPLEX before parsing.",
    )
    max_query_tokens: int = Field(default=2000, ge=100, description="Most lexical tokens in one GraphQL document.")
    max_query_depth: int = Field(default=10, ge=2, description="Deepest field nesting of an operation.")
    max_query_aliases: int = Field(default=30, ge=0, description="Most aliased fields in one document.")
    max_query_cost: int = Field(
        default=25000,
        ge=1,
        description="Most fields an operation's response could hold (list sizes multiplied; see README).",
    )
    tenant_concurrency: int = Field(
        default=2, ge=1, description="GraphQL HTTP operations one tenant runs at once in one process."
    )
    tenant_connections: int = Field(
        default=2, ge=1, description="Pooled database connections one tenant's requests hold at once per process."
    )
    tenant_queue_s: float = Field(
        default=5.0, ge=0, description="How long an operation over the tenant cap waits before 429 TOO_MANY_REQUESTS."
    )

    # Request path speed: per-request work a small query should not pay.
    auth_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a verified API key's principal is reused per process (0: ask the database each "
        "HTTP request); a revoked key is dropped at once through the keys-revoked notification.",
    )
    access_log: bool = Field(
        default=False, description="`serve` logs a line per HTTP request (uvicorn's access log, in the log format)."
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
    llm_max_tokens: int = Field(
        default=16000,
        ge=256,
        le=128_000,
        description="Output token cap per agent call of the built-in versions; thinking counts towards it.",
    )
    llm_first_byte_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest wait, from sending a Messages API request, for its response to start (message_start, "
        "after the prompt is processed); then the attempt fails as TIMEOUT and is retried.",
    )
    llm_idle_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest silence between two events of a started response stream (pings count); then the "
        "attempt fails as TIMEOUT and is retried. Thinking that is not displayed streams no deltas, so keep it long.",
    )
    llm_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Fixed part of one attempt's overall deadline, which is this plus `max_tokens` times "
        "`llm_timeout_s_per_1k_tokens` / 1000 (16,000 tokens: 120 + 450 s): a stream that keeps trickling never "
        "outlives it, while a long answer is not cut because it is long.",
    )
    llm_timeout_s_per_1k_tokens: float = Field(
        default=28.125,
        ge=0,
        description="Overall deadline added per 1,000 tokens of `max_tokens`; the default is the anthropic SDK's own "
        "estimate of a request's duration (an hour for 128,000 tokens).",
    )
    llm_max_retries: int = Field(
        default=3, ge=0, description="Retries on 429/5xx/529, mid-stream errors and dropped connections."
    )
    llm_max_retry_after_s: float = Field(
        default=60.0, ge=0, description="Longest `retry-after` honoured; a longer one fails the run as RATE_LIMITED."
    )
    cache_sharing: Literal["parallel", "leader"] = Field(
        default="parallel",
        description="parallel: each agent its own schema, all start at once; leader: one shared schema, the others "
        "start when the first one's response starts and read its cache entry of the transcript.",
    )
    cache_wait_s: float = Field(
        default=10.0, ge=0, description="Longest a run waits for its analysis' cache leader before going alone."
    )
    llm_concurrency: int = Field(
        default=8, ge=1, description="Agent runs executing at once across ALL processes (protects the rate limit)."
    )
    max_queued_runs: int = Field(
        default=400,
        ge=0,
        description="Agent runs one tenant may have waiting to start; an analysis that would queue more is refused "
        "with TOO_MANY_REQUESTS (0: no cap). Every tenant's cap and the ceiling of the lower one its admins may set "
        "(updateTenantLimits).",
    )
    analysis_slots: int = Field(
        default=8,
        ge=0,
        validation_alias=_renamed("DEALGRAPH_ANALYSIS_SLOTS", "DEALGRAPH_WORKER_SLOTS"),
        description="Agent runs the analysis pool of one process executes at once (0: no analysis pool).",
    )
    lease_s: float = Field(
        default=30.0, gt=0, description="A claimed run is re-claimed if its claimer is silent this long."
    )
    max_run_attempts: int = Field(default=3, ge=1, description="Claims of one run before it fails as WORKER_LOST.")
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="Fallback poll for runs (NOTIFY wakes analysis pools at once)."
    )
    experiment_budget_usd: float = Field(
        default=5.0,
        ge=0,
        description="The most a prompt experiment may cost (its estimate): every tenant's budget and the ceiling of "
        "the lower one its admins may set (updateTenantLimits); startExperiment's budgetUsd may only lower it.",
    )
    progress_interval_s: float = Field(
        default=0.25,
        gt=0,
        description="Minimum time between progress events of a run; the first comes one interval after the run began.",
    )
    # Live path: how run events reach every process.
    event_transport: Literal["postgres", "redis"] = Field(
        default="postgres",
        description="How run events reach every process: PostgreSQL LISTEN/NOTIFY, or Redis pub/sub (published after commit).",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis for `event_transport=redis`.")
    standin_port: int = Field(default=0, description="Port of the stand-in `serve` starts without an API key (0: any).")
    standin_latencies: dict[str, float] = Field(
        default={"meeting_intelligence": 1.5, "action_items": 2.5, "stakeholders": 3.5, "meddpicc": 4.5},
        description="Simulated seconds per agent of that auto-started stand-in (JSON object).",
    )

    # Semantic search: local embeddings of utterance windows, stored with pgvector.
    embedding_model: Literal["wordllama", "minilm"] = Field(
        default="wordllama", description="Local embedder; minilm needs the 'minilm' extra and a CPU torch."
    )
    embedding_neighbours: int = Field(
        default=1, ge=0, le=5, description="Utterances either side embedded with each one."
    )
    embedding_pool: bool = Field(
        default=True,
        validation_alias=_renamed("DEALGRAPH_EMBEDDING_POOL", "DEALGRAPH_EMBEDDING_WORKER"),
        description="`serve` embeds queued transcripts in the background (the embedding pool).",
    )
    embedding_poll_s: float = Field(default=1.0, gt=0, description="How often an idle embedding pool polls the queue.")
    embedding_lease_s: float = Field(
        default=60.0, gt=0, description="An embedding job is re-claimed if its claimer is gone this long."
    )
    embedding_max_attempts: int = Field(
        default=3, ge=1, description="Claims of one embedding job before it is marked failed."
    )
    # Deal health: recomputed in the background when what it depends on changes.
    health_pool: bool = Field(
        default=True, description="`serve` recomputes deal health in the background (the health pool)."
    )
    health_poll_s: float = Field(
        default=1.0, gt=0, description="How often an idle health pool polls for deals whose health is due."
    )
    health_lease_s: float = Field(
        default=30.0, gt=0, description="A deal's health job is re-claimed if its claimer is gone this long."
    )
    health_max_attempts: int = Field(
        default=3, ge=1, description="Claims of one deal's health job before it is marked failed."
    )
    search_relevance_floor: float = Field(
        default=0.045,
        ge=-1.0,
        le=1.0,
        description="Least cosine similarity between a query and an utterance window for a semantic match to count: "
        "SEMANTIC returns no hit below it, HYBRID keeps such a hit only if the keyword ranking found it; -1: no floor. "
        "The default is the highest floor that costs the labelled set (bench/search_quality.py) no recall@5 or MRR.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
