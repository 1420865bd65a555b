"""Automatic persisted queries (Apollo's protocol): clients send a document's SHA-256 instead of its text.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without `query`; if this process
knows the hash for the caller's tenant the operation runs as if the text had been sent, otherwise the
answer is the error `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`) and the client sends
hash and text together once, which stores it. A text whose SHA-256 is not the hash sent with it is
refused, so a hash can never be bound to another document. Documents are kept per process and per
tenant (nothing one tenant sent is ever run for another), in a bounded LRU.

>>> strawberry.Schema(query=Query, extensions=[PersistedQueries])
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from dealgraph.errors import ErrorCode

CAPACITY = 1000
"""Documents kept per process (all tenants together); the least recently used is forgotten first."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
NOT_FOUND = "PersistedQueryNotFound"


class PersistedQueries(SchemaExtension):
    _documents: ClassVar[OrderedDict[tuple[object, str], str]] = OrderedDict()

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        persisted = (context.operation_extensions or {}).get("persistedQuery")
        if persisted is not None:
            tenant = getattr(getattr(context.context, "principal", None), "tenant_id", None)
            context.query = self._resolve(tenant, _hash_of(persisted), context.query)
        yield

    @classmethod
    def _resolve(cls, tenant: object, digest: str, query: str | None) -> str:
        key = (tenant, digest)
        if query is None:
            known = cls._documents.get(key)
            if known is None:
                raise GraphQLError(NOT_FOUND, extensions={"code": ErrorCode.PERSISTED_QUERY_NOT_FOUND})
            cls._documents.move_to_end(key)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise GraphQLError(
                "provided sha does not match query: extensions.persistedQuery.sha256Hash must be the SHA-256 "
                "of the query text, in hexadecimal",
                extensions={"code": ErrorCode.BAD_USER_INPUT},
            )
        cls._documents[key] = query
        cls._documents.move_to_end(key)
        while len(cls._documents) > CAPACITY:
            cls._documents.popitem(last=False)
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
