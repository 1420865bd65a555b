"""Error presentation: API errors keep their message and gain a `code`; the rest are masked.

A masked error is logged once, with the request id, and the id is returned to the client, so a
support ticket can be matched to the log line without leaking internals. Client mistakes are only
logged at DEBUG: they are the client's to fix, and an ERROR with a traceback would bury real faults.
"""

from __future__ import annotations

import logging

from graphql.error import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.exceptions import CannotGetOperationTypeError

from dealgraph.db.outage import is_outage
from dealgraph.errors import ApiError, ErrorCode, ServiceUnavailable, TooManyRequests
from dealgraph.schema.strawberry_overrides import MaskErrorsWithoutProtocolCheck

log = logging.getLogger("dealgraph.errors")


def _coded(error: GraphQLError, message: str, code: str, **extensions: object) -> GraphQLError:
    """`error` as the client sees it: `message`, and `code` (with any `extensions`) among its extensions."""
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), "code": code, **extensions},
    )


class PresentErrors(MaskErrorsWithoutProtocolCheck):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """Every error comes here (strawberry's default `should_mask_error` masks all): presented, not anonymised."""
        presented = self._present(error)
        code = (presented.extensions or {}).get("code")
        if code != ErrorCode.INTERNAL_SERVER_ERROR:  # internal ones were logged at ERROR by _present
            log.debug("client error %s at %s: %s", code, presented.path, presented.message)
        return presented

    def _present(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:  # about the document (syntax, validation, limits): safe to show
            return _coded(error, error.message, _document_error_code(error))
        if isinstance(original, PoolTimeout):  # every pooled connection busy: load, not a bug
            original = TooManyRequests.pool_exhausted()
        elif is_outage(original):  # a failover or a dropped connection: retrying helps (see server.view)
            original = ServiceUnavailable.database_lost()
        if isinstance(original, ApiError):
            return _coded(error, original.message, original.code)
        if isinstance(original, GraphQLError):  # e.g. a bad argument value coerced by strawberry
            return _coded(error, error.message, ErrorCode.BAD_USER_INPUT)
        if isinstance(original, CannotGetOperationTypeError):  # e.g. an operationName the document lacks
            return _coded(error, original.as_http_error_reason(), ErrorCode.GRAPHQL_VALIDATION_FAILED)
        if isinstance(original, GlobalIDValueError):  # e.g. node(id:) naming a type that is not a Node
            return _coded(error, f"Invalid global id: {original}", ErrorCode.BAD_USER_INPUT)
        request_id = getattr(self.execution_context.context, "request_id", None)
        log.error("unexpected error (request %s) at %s", request_id, error.path, exc_info=original)
        return _coded(error, "Internal server error.", ErrorCode.INTERNAL_SERVER_ERROR, requestId=request_id)


def _document_error_code(error: GraphQLError) -> str:
    """A code set by a limit wins; otherwise parse failures and validation failures differ."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    return ErrorCode.GRAPHQL_VALIDATION_FAILED
