"""Parsing and validating a document: bounded in length, cached by bytes, large ones off the event loop.

Comments and whitespace are not tokens, so `DEALGRAPH_MAX_QUERY_TOKENS` does not bound the lexer's
work, which grows with the text (1.9 million characters of comment took a second to lex). A document
is therefore first bounded in characters (`DEALGRAPH_MAX_QUERY_CHARS`). Within that bound parsing a
long document still takes tens of milliseconds, and on the event loop every other tenant's request
waits for it; so a document longer than `INLINE_CHARS` is parsed and validated in a thread, one at a
time per process (the thread and the loop share the interpreter, but the loop gets its turn every
few milliseconds instead of after the whole document).

Parsed and validated documents are cached by their text in `SizedLru`s (`dealgraph/schema/document_cache.py`):
the budget is in bytes, and a document longer than `CACHEABLE_CHARS` is never kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

import anyio
import anyio.to_thread
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate

from dealgraph.schema.document_cache import PARSED_BYTES_PER_CHAR, SizedLru, cacheable, text_bytes

INLINE_CHARS = 4096
"""Documents up to this long are parsed on the event loop: about a millisecond, less than a thread hop costs."""

PARSED_BYTES = 32 * 1024 * 1024
"""Bytes of parsed documents kept per process (a typical document of 1,000 characters weighs 128 KB)."""

VALIDATED_BYTES = 8 * 1024 * 1024
"""Bytes of validation results kept per process: a document's text when valid; when not, its errors hold
nodes of the parsed document, so they weigh as much as it does."""

T = TypeVar("T")
Rules = tuple[type[ASTValidationRule], ...]


class Documents:
    """One per app: its caches and the thread lane that large documents take."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.parsed: SizedLru[str, DocumentNode] = SizedLru(PARSED_BYTES)
        self.validated: SizedLru[tuple[str, Rules], list[GraphQLError]] = SizedLru(VALIDATED_BYTES)
        self._lane: anyio.CapacityLimiter | None = None

    async def parse(self, query: str) -> DocumentNode:
        """The document of `query`; a GraphQLSyntaxError if it does not parse (or exceeds the token limit)."""
        document = self.parsed.get(query)
        if document is None:
            document = await self._run(query, parse, query, max_tokens=self.max_tokens)
            if cacheable(query):
                self.parsed.put(query, document, PARSED_BYTES_PER_CHAR * len(query))
        return document

    async def validate(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, rules: Collection[type[ASTValidationRule]]
    ) -> list[GraphQLError]:
        """Validation errors of `document` (parsed from `query`) under `rules`, which are part of the key."""
        key = (query, tuple(rules))
        errors = self.validated.get(key)
        if errors is None:
            errors = await self._run(query, validate, schema, document, list(rules))
            if cacheable(query):
                self.validated.put(key, errors, PARSED_BYTES_PER_CHAR * len(query) if errors else text_bytes(query))
        return errors

    async def _run(self, query: str, work: Callable[..., T], *args: object, **kwargs: object) -> T:
        if len(query) <= INLINE_CHARS:
            return work(*args, **kwargs)
        if self._lane is None:
            self._lane = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(lambda: work(*args, **kwargs), limiter=self._lane)
