"""What every resolver receives: who is calling, their tenant's database scope, and loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from dealgraph.claude.client import LlmClient
from dealgraph.config import Settings
from dealgraph.db.repositories.tenancy import Principal
from dealgraph.db.session import Database, OperationTransaction, TenantScope
from dealgraph.errors import Unauthenticated
from dealgraph.fanout.hub import NotificationHub
from dealgraph.services.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    database: Database
    settings: Settings
    hub: NotificationHub | None
    llm: LlmClient | None
    request_id: str
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)
    _transaction: OperationTransaction | None = field(default=None, repr=False)

    @property
    def viewer(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("Authentication required: send 'Authorization: Bearer <api key>'.")
        return self.principal

    @property
    def tenant(self) -> TenantScope:
        return TenantScope(self.database, self.viewer.tenant_id, self._transaction)

    def share_transaction(self, transaction: OperationTransaction) -> None:
        """From now on every resolver and loader of this (HTTP query) operation uses `transaction`."""
        self._transaction = transaction
        self.reset_loaders()

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.tenant)
        return self._loaders

    def reset_loaders(self) -> None:
        """Start each operation with empty loader caches (a WebSocket shares one context).

        Built on first use, not here: a subscription resets per event, and most events (progress)
        never load anything, so building them eagerly cost more than the fan-out itself."""
        self._loaders = None
