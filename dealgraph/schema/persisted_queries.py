"""Automatic persisted queries (Apollo's protocol): clients send a document's SHA-256 instead of its text.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without `query`; if this process
knows the hash for the caller's tenant the operation runs as if the text had been sent, otherwise the
answer is the error `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`) and the client sends
hash and text together once, which stores it. A text whose SHA-256 is not the hash sent with it is
refused, so a hash can never be bound to another document.

Documents are kept per process and per tenant: nothing one tenant sent is ever run for another, and
one tenant registering thousands of documents pushes out its own, not another's (when the store is
full, the tenant holding the most bytes loses its least recently used document). A document longer
than `CACHEABLE_CHARS` runs but is not kept, so its client sends the text again each time.

>>> strawberry.Schema(query=Query, extensions=[PersistedQueries])
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from dealgraph.errors import ErrorCode
from dealgraph.schema.document_cache import SizedLru, cacheable, text_bytes

STORE_BYTES = 16 * 1024 * 1024
"""Bytes of document text kept per process, all tenants together."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
NOT_FOUND = "PersistedQueryNotFound"


class TenantDocuments:
    """Each tenant's documents by hash, in a store of `max_bytes` shared fairly: the heaviest tenant gives way."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._tenants: dict[object, SizedLru[str, str]] = {}

    def get(self, tenant: object, digest: str) -> str | None:
        documents = self._tenants.get(tenant)
        return None if documents is None else documents.get(digest)

    def put(self, tenant: object, digest: str, text: str) -> None:
        if not cacheable(text):
            return
        documents = self._tenants.setdefault(tenant, SizedLru(self.max_bytes))
        before = documents.bytes
        documents.put(digest, text, text_bytes(text))
        self.bytes += documents.bytes - before
        while self.bytes > self.max_bytes:
            tenant_of_most = max(self._tenants, key=lambda t: self._tenants[t].bytes)
            self._forget_oldest(tenant_of_most)

    def tenant_bytes(self, tenant: object) -> int:
        documents = self._tenants.get(tenant)
        return 0 if documents is None else documents.bytes

    def _forget_oldest(self, tenant: object) -> None:
        documents = self._tenants[tenant]
        before = documents.bytes
        documents.pop(documents.oldest())
        self.bytes -= before - documents.bytes
        if not documents:
            del self._tenants[tenant]


class PersistedQueries(SchemaExtension):
    documents: ClassVar[TenantDocuments] = TenantDocuments(STORE_BYTES)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        persisted = (context.operation_extensions or {}).get("persistedQuery")
        if persisted is not None:
            tenant = getattr(getattr(context.context, "principal", None), "tenant_id", None)
            context.query = self._resolve(tenant, _hash_of(persisted), context.query)
        yield

    @classmethod
    def _resolve(cls, tenant: object, digest: str, query: str | None) -> str:
        if query is None:
            known = cls.documents.get(tenant, digest)
            if known is None:
                raise GraphQLError(NOT_FOUND, extensions={"code": ErrorCode.PERSISTED_QUERY_NOT_FOUND})
            return known
        if hashlib.sha256(query.encode(errors="surrogatepass")).hexdigest() != digest:
            raise GraphQLError(
                "provided sha does not match query: extensions.persistedQuery.sha256Hash must be the SHA-256 "
                "of the query text, in hexadecimal",
                extensions={"code": ErrorCode.BAD_USER_INPUT},
            )
        cls.documents.put(tenant, digest, query)
        return query


def _hash_of(persisted: Any) -> str:
    if isinstance(persisted, dict) and persisted.get("version") == 1:
        digest = persisted.get("sha256Hash")
        if isinstance(digest, str) and _SHA256.fullmatch(digest.lower()):
            return digest.lower()
    raise GraphQLError(
        'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<SHA-256 of the query, 64 hex digits>"}',
        extensions={"code": ErrorCode.BAD_USER_INPUT},
    )
