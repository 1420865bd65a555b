"""A local Messages API that the real `anthropic` SDK can talk to, so agents run without network or key.

It speaks the wire protocol (status codes, error bodies, SSE frames, usage, retry headers) faithfully
enough that SDK retries, streaming accumulation and error mapping behave exactly as against the real
API, while the content is synthesized (see `synth`) and every response is marked
`x-dealgraph-simulated: true`. This module only wires routes to handlers; each concern has its own module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dealgraph.standin.batches import DEFAULT_BATCH_PAGE, MAX_BATCH_BYTES, BatchCreate, BatchStore, check_batch_params
from dealgraph.standin.behaviour import AgentRuntime, StandinState
from dealgraph.standin.config import AgentBehaviour, StandinConfig
from dealgraph.standin.errors import (
    ApiError,
    error_response,
    handle_api_error,
    handle_http_error,
    scripted_error,
    spend_limit_error,
)
from dealgraph.standin.headers import ProtocolHeaders
from dealgraph.standin.ids import new_id
from dealgraph.standin.reply import Reply, build_reply, message_object
from dealgraph.standin.requests import (
    MessagesRequest,
    PromptRequest,
    agent_name,
    check_api_key,
    json_body,
    parse_prompt,
    validate_as,
)
from dealgraph.standin.rules import check_context_window, enforce, thinks
from dealgraph.standin.sse import SSE_MEDIA_TYPE, sleep_until, stream_events
from dealgraph.standin.transcript import transcript_of
from dealgraph.standin.usage import CacheWrite, InputUsage, PromptCache, prompt_segments, prompt_tokens


@dataclass(frozen=True)
class _Planned:
    """A Messages request decided but not yet answered: sent whole, streamed, or kept as a batch result."""

    request: MessagesRequest
    runtime: AgentRuntime
    reply: Reply
    usage: InputUsage
    message_id: str
    diagnostics: dict[str, Any] | None
    first_token_at: float
    done_at: float
    cache: PromptCache
    write: CacheWrite

    def publish(self) -> None:
        self.cache.publish(self.write)

    def message(self, *, started: bool) -> dict[str, Any]:
        return message_object(
            self.request.model,
            self.reply,
            self.usage,
            started=started,
            message_id=self.message_id,
            diagnostics=self.diagnostics,
        )


class _Handlers:
    """Route handlers over one `StandinState`; other handlers raise `ApiError` and the app renders it."""

    def __init__(self, state: StandinState) -> None:
        self._state = state
        self._batches = BatchStore(
            self.answer_in_batch, expiry_s=state.config.batch_expiry_s, kept_s=state.config.batch_results_kept_s
        )

    async def messages(self, request: Request) -> Response:
        """Renders its own errors, because every outcome, failures included, is recorded for `/stats`."""
        started = time.monotonic()
        body = await json_body(request)
        self._state.requests.append(body)
        agent = agent_name(body)
        try:
            response = await self._answer(request, body, agent, started)
        except ApiError as error:
            response = error_response(request, error)
        self._state.statuses[agent].append(response.status_code)
        return response

    async def _answer(self, request: Request, body: object, agent: str, started: float) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        planned = self._plan(body, agent, started)
        if planned.request.stream:
            start = planned.message(started=True)
            events = stream_events(
                start,
                planned.reply,
                first_token_at=planned.first_token_at,
                done_at=planned.done_at,
                on_start=planned.publish,
                before_finish=lambda: self._state.wait_turn(agent),
                fault=planned.runtime.next_stream_fault(),
            )
            return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers={"cache-control": "no-cache"})
        return JSONResponse(await self._finish(planned, agent))

    def _plan(self, body: object, agent: str, started: float, *, in_batch: bool = False) -> _Planned:
        """Everything decided before the first token: the rules, scripted failures, the cache and the reply."""
        parsed, prompt = parse_prompt(MessagesRequest, body)
        if in_batch:
            check_batch_params(parsed)
        self._state.thinking_blocks_received[agent] += sum(
            block.type == "thinking" for message in parsed.messages for block in message.content
        )
        caps = enforce(parsed)
        segments = prompt_segments(prompt)
        check_context_window(prompt_tokens(segments), caps)
        runtime = self._state.runtime(agent)
        if runtime.behaviour.spend_limit is not None:
            raise spend_limit_error(runtime.behaviour.spend_limit)
        failure = runtime.next_failure()
        if failure is not None:
            raise scripted_error(failure, agent, runtime.behaviour)
        usage, write = self._state.cache.plan(segments, caps.min_cacheable_tokens, model=caps.model)
        reply = build_reply(parsed, prompt, transcript_of(prompt), runtime, thinking=thinks(parsed, caps))
        message_id = new_id("msg_")
        diagnostics = None
        if parsed.diagnostics is not None:
            diagnostics = self._state.diagnostics.diagnose(prompt, parsed.diagnostics.previous_message_id)
            self._state.diagnostics.remember(message_id, prompt)
        behaviour = runtime.behaviour
        uncached = usage.input_tokens + usage.cache_creation_input_tokens
        first_token_at = started + behaviour.prefill_s_per_1k_tokens * uncached / 1000
        done_at = first_token_at + behaviour.latency_s if reply.blocks else first_token_at
        return _Planned(
            parsed, runtime, reply, usage, message_id, diagnostics, first_token_at, done_at, self._state.cache, write
        )

    async def _finish(self, planned: _Planned, agent: str) -> dict[str, Any]:
        await sleep_until(planned.first_token_at)
        planned.publish()
        await sleep_until(planned.done_at)
        await self._state.wait_turn(agent)
        return planned.message(started=False)

    async def answer_in_batch(self, body: object) -> dict[str, Any]:
        """One request of a Message Batch: the Messages endpoint's answer, billed at the batch tier; recorded
        for `/stats` like any other request."""
        started = time.monotonic()
        self._state.requests.append(body)
        agent = agent_name(body)
        try:
            message = await self._finish(self._plan(body, agent, started, in_batch=True), agent)
        except ApiError as error:
            self._state.statuses[agent].append(error.status)
            raise
        self._state.statuses[agent].append(200)
        return {**message, "usage": {**message["usage"], "service_tier": "batch"}}

    async def create_batch(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        if int(request.headers.get("content-length") or 0) > MAX_BATCH_BYTES:
            raise ApiError(413, f"Request exceeds the maximum allowed number of bytes ({MAX_BATCH_BYTES}) for a batch.")
        body = validate_as(BatchCreate, await json_body(request))
        return JSONResponse(self._batches.create(body).as_api(str(request.base_url), datetime.now(UTC)))

    async def batch(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        batch = self._batches.get(request.path_params["batch_id"])
        return JSONResponse(batch.as_api(str(request.base_url), datetime.now(UTC)))

    async def cancel_batch(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        batch = self._batches.cancel(request.path_params["batch_id"])
        return JSONResponse(batch.as_api(str(request.base_url), datetime.now(UTC)))

    async def delete_batch(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        self._batches.delete(request.path_params["batch_id"])
        return JSONResponse({"id": request.path_params["batch_id"], "type": "message_batch_deleted"})

    async def batch_results(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        batch = self._batches.results(request.path_params["batch_id"])
        return Response(b"".join(batch.result_lines()), media_type="application/x-jsonl")

    async def list_batches(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        query = request.query_params
        try:
            limit = int(query.get("limit", DEFAULT_BATCH_PAGE))
        except ValueError:
            raise ApiError(400, "limit: Input should be a valid integer") from None
        chosen, has_more = self._batches.page(
            after_id=query.get("after_id"), before_id=query.get("before_id"), limit=limit
        )
        now, base_url = datetime.now(UTC), str(request.base_url)
        return JSONResponse(
            {
                "data": [batch.as_api(base_url, now) for batch in chosen],
                "has_more": has_more,
                "first_id": chosen[0].id if chosen else None,
                "last_id": chosen[-1].id if chosen else None,
            }
        )

    async def count_tokens(self, request: Request) -> Response:
        check_api_key(request, required=self._state.config.require_api_key)
        body = await json_body(request)
        parsed, prompt = parse_prompt(PromptRequest, body)
        self._state.token_counts[agent_name(body)] += 1
        enforce(parsed)
        return JSONResponse({"input_tokens": prompt_tokens(prompt_segments(prompt))})

    async def put_agent(self, request: Request) -> Response:
        behaviour = validate_as(AgentBehaviour, await json_body(request))
        self._state.replace_behaviour(request.path_params["name"], behaviour)
        return JSONResponse(behaviour.model_dump())

    async def release(self, request: Request) -> Response:
        self._state.released[request.path_params["name"]].set()
        return JSONResponse({"released": request.path_params["name"]})

    async def reset(self, request: Request) -> Response:
        self._state.reset()
        self._batches.clear()
        return JSONResponse({"reset": True})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self._state.stats())

    async def requests(self, request: Request) -> Response:
        return JSONResponse({"requests": list(self._state.requests)})


def create_standin_app(config: StandinConfig) -> Starlette:
    """One app owns its counters and cache, so parallel test servers never share scripted state."""
    handlers = _Handlers(StandinState(config.model_copy(deep=True)))
    routes = [
        Route("/v1/messages", handlers.messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", handlers.count_tokens, methods=["POST"]),
        Route("/v1/messages/batches", handlers.create_batch, methods=["POST"]),
        Route("/v1/messages/batches", handlers.list_batches, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", handlers.batch, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", handlers.delete_batch, methods=["DELETE"]),
        Route("/v1/messages/batches/{batch_id}/cancel", handlers.cancel_batch, methods=["POST"]),
        Route("/v1/messages/batches/{batch_id}/results", handlers.batch_results, methods=["GET"]),
        Route("/_standin/agents/{name}", handlers.put_agent, methods=["PUT"]),
        Route("/_standin/agents/{name}/release", handlers.release, methods=["POST"]),
        Route("/_standin/reset", handlers.reset, methods=["POST"]),
        Route("/_standin/stats", handlers.stats, methods=["GET"]),
        Route("/_standin/requests", handlers.requests, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ProtocolHeaders)],
        exception_handlers={HTTPException: handle_http_error, ApiError: handle_api_error},
    )
