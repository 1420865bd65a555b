"""The ASGI application: GraphQL (HTTP + graphql-transport-ws) at /graphql, health and readiness checks, the
browser pages (GraphiQL, the console at /console) with their static files, and `/metrics` when the operator
enabled it (`DEALGRAPH_METRICS_TOKEN`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from dealgraph.bootstrap import prepare_database
from dealgraph.config import Settings
from dealgraph.db.embedded import database_url_for
from dealgraph.db.session import Database
from dealgraph.deal_health.pool import health_pool
from dealgraph.observability.setup import observe, stop_observing
from dealgraph.runs.engine import analysis_engine
from dealgraph.schema import schema
from dealgraph.search.embedding_pool import embedding_pool
from dealgraph.server.documents import Documents
from dealgraph.server.drain import AnswerCutRequests
from dealgraph.server.health import health_routes
from dealgraph.server.heap import settled_heap
from dealgraph.server.limits import with_limits
from dealgraph.server.metrics import metrics_routes
from dealgraph.server.pages import page_routes
from dealgraph.server.recycle import Recycler
from dealgraph.server.request_id import RequestIdMiddleware
from dealgraph.server.view import DealgraphGraphQL
from dealgraph.stopping import finish_within

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, restartable: bool = False) -> Starlette:
    """`restartable`: a supervisor starts a new process when this one exits (`serve --api-processes N`), so it may
    restart itself to give back the memory of a burst of WebSockets (`dealgraph/server/recycle.py`)."""
    observe(settings)  # first: the database's hooks depend on it
    database = Database(
        database_url_for(settings),
        app_role=settings.app_role,
        pool_size=settings.db_pool_size,
        pool_timeout_s=settings.db_pool_timeout_s,
        tenant_connections=settings.tenant_connections,
    )
    documents = Documents(settings.max_query_tokens)
    graphql = DealgraphGraphQL(with_limits(schema, settings, documents), database, settings)
    if restartable and settings.recycle_after_sockets > 0:
        graphql.recycler = Recycler(settings.recycle_after_sockets, settings.recycle_growth_mb)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await prepare_database(database, settings, apply_migrations=settings.auto_migrate)
        try:
            async with (
                analysis_engine(database, settings) as engine,
                embedding_pool(database, settings),
                health_pool(database, settings),
            ):
                graphql.hub = app.state.hub = engine.hub
                engine.hub.on_keys_revoked(graphql.live_sockets.keys_revoked)
                graphql.principals.listen_to(engine.hub)
                graphql.llm = engine.llm
                app.state.analysis_pool = engine.analysis_pool
                app.state.experiment_pool = engine.experiment_pool
                log.info("dealgraph ready: GraphQL at /graphql")
                app.state.ready = True
                try:
                    if settings.settle_heap:
                        async with settled_heap(settings.full_collection_s):  # after start-up, while serving
                            yield
                    else:
                        yield
                finally:
                    app.state.ready = False  # draining: load balancers stop sending new requests
        finally:
            await finish_within("closing the database connections", database.dispose(), settings.shutdown_timeout_s)
            stop_observing()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=None),  # the view refuses other methods (405), as a GraphQL response
            WebSocketRoute("/graphql", graphql),
            *health_routes(database),
            *metrics_routes(database, settings.metrics_token),
            *page_routes(),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AnswerCutRequests),  # inside: the 503 of a request cut by the drain carries the request id
        ],
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.graphql = graphql
    app.state.documents = documents  # the parse and validation caches
    return app
