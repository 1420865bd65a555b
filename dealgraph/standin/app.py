"""A local Messages API that the real `anthropic` SDK can talk to, so agents run without network or key.

It speaks the wire protocol (status codes, error bodies, SSE frames, usage, retry headers) faithfully
enough that SDK retries, streaming accumulation and error mapping behave exactly as against the real
API, while the content is synthesized (see `synth`) and every response is marked
`x-dealgraph-simulated: true`. This module only wires routes to handlers; each concern has its own module.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dealgraph.standin.behaviour import StandinState
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
from dealgraph.standin.reply import build_reply, message_object
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
from dealgraph.standin.usage import prompt_segments, prompt_tokens


class _Handlers:
    """Route handlers over one `StandinState`; other handlers raise `ApiError` and the app renders it."""

    def __init__(self, state: StandinState) -> None:
        self._state = state

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
        parsed, prompt = parse_prompt(MessagesRequest, body)
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

        def publish() -> None:
            self._state.cache.publish(write)

        async def before_finish() -> None:
            await self._state.wait_turn(agent)

        if parsed.stream:
            start = message_object(
                parsed.model, reply, usage, started=True, message_id=message_id, diagnostics=diagnostics
            )
            events = stream_events(
                start,
                reply,
                first_token_at=first_token_at,
                done_at=done_at,
                on_start=publish,
                before_finish=before_finish,
                fault=runtime.next_stream_fault(),
            )
            return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers={"cache-control": "no-cache"})
        await sleep_until(first_token_at)
        publish()
        await sleep_until(done_at)
        await before_finish()
        return JSONResponse(
            message_object(parsed.model, reply, usage, started=False, message_id=message_id, diagnostics=diagnostics)
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
