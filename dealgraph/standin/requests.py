"""Reads and validates requests, rejecting what the real API rejects with its `field.path: problem` messages.

The request shape follows the Messages API reference (https://platform.claude.com/docs/en/api/messages):
unknown fields are refused (`<field>: Extra inputs are not permitted`, the API's own wording), as are
ill-typed ones. Rules that depend on the model (thinking, forced tool choice, sampling, prefill, limits)
live in `rules`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from starlette.requests import Request

from dealgraph.claude.models import Effort
from dealgraph.standin.config import DEFAULT_AGENT
from dealgraph.standin.errors import ApiError
from dealgraph.standin.transcript import as_blocks, block_text

_ModelT = TypeVar("_ModelT", bound=BaseModel)


def agent_name(body: object) -> str:
    """Which `AgentBehaviour` applies; tolerant of malformed bodies so rejected requests are counted too.

    The forced tool, else the first tool, else the title of the structured-output schema."""
    if not isinstance(body, Mapping):
        return DEFAULT_AGENT
    choice, tools, output = body.get("tool_choice"), body.get("tools"), body.get("output_config")
    forced = choice.get("name") if isinstance(choice, Mapping) else None
    first = tools[0].get("name") if isinstance(tools, list) and tools and isinstance(tools[0], Mapping) else None
    fmt = output.get("format") if isinstance(output, Mapping) else None
    schema = fmt.get("schema") if isinstance(fmt, Mapping) else None
    title = schema.get("title") if isinstance(schema, Mapping) else None
    keyed = answer_key(body, schema)
    return next((name for name in (forced, first, keyed, title) if isinstance(name, str)), DEFAULT_AGENT)


_ANSWER_UNDER = re.compile(r"under the `(\w+)` key")


def answer_key(body: Mapping[str, Any], schema: object) -> str | None:
    """The property of a schema shared by several agents that this request's instructions ask to fill
    ("… under the `meddpicc` key …", as dealgraph's prompts say), read from the last user turn."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    messages = body.get("messages")
    if not isinstance(properties, Mapping) or not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    content = last.get("content") if isinstance(last, Mapping) else None
    blocks = as_blocks(content) if isinstance(content, str | list) else []
    for block in blocks:
        for key in _ANSWER_UNDER.findall(block_text(block)) if isinstance(block, Mapping) else ():
            if key in properties:
                return str(key)
    return None


async def json_body(request: Request) -> object:
    """`None` for a body that is not JSON, so validation reports it like any other wrong shape."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def check_api_key(request: Request, *, required: bool) -> None:
    """The SDK sends the key as `Authorization: Bearer …`; raw clients use `x-api-key`. Accept both."""
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if required and not (request.headers.get("x-api-key") or bearer):
        raise ApiError(401, "x-api-key header is required")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    problem = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    return f"{path}: {problem}" if path else problem


def validate_as(model: type[_ModelT], body: object) -> _ModelT:
    """Any validation failure is a 400 naming the first offending field."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise ApiError(400, _describe(error)) from None


def _to_blocks(value: object) -> object:
    return as_blocks(value) if isinstance(value, str) else value


class CacheControl(BaseModel):
    """https://platform.claude.com/docs/en/build-with-claude/prompt-caching: ephemeral, 5m (default) or 1h."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] = "5m"


_BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "citations"}),
    "thinking": frozenset({"thinking", "signature"}),
    "redacted_thinking": frozenset({"data"}),
    "tool_use": frozenset({"id", "name", "input", "caller"}),
    "tool_result": frozenset({"tool_use_id", "content", "is_error"}),
}
"""Fields each block type takes (besides type and cache_control); others are refused like the API does."""


class ContentBlock(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: StrictStr
    cache_control: CacheControl | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> ContentBlock:
        allowed = _BLOCK_FIELDS.get(self.type)
        unknown = sorted(set(self.model_extra or {}) - allowed) if allowed is not None else []
        if unknown:
            raise ValueError(f"{self.type}.{unknown[0]}: Extra inputs are not permitted")
        if self.type == "text" and not isinstance(getattr(self, "text", None), str):
            raise ValueError("text.text: Input should be a valid string")
        return self


class SystemBlock(ContentBlock):
    type: Literal["text"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Annotated[list[ContentBlock], BeforeValidator(_to_blocks)]


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    type: StrictStr = "custom"
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None

    @model_validator(mode="after")
    def _custom_has_schema(self) -> Tool:
        if self.type == "custom" and (self.input_schema or {}).get("type") != "object":
            raise ValueError("input_schema: a JSON schema with type 'object' is required for custom tools")
        return self


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["auto", "any", "tool", "none"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None

    @property
    def forced(self) -> bool:
        return self.type in ("any", "tool")


class Thinking(BaseModel):
    """https://platform.claude.com/docs/en/build-with-claude/thinking (SDK `ThinkingConfigParam`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["adaptive", "between_tools", "disabled", "enabled"]
    budget_tokens: StrictInt | None = Field(default=None, ge=1024)
    display: Literal["summarized", "omitted"] | None = None


class JsonOutputFormat(BaseModel):
    """https://platform.claude.com/docs/en/build-with-claude/structured-outputs (JSON outputs)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effort: Effort | None = None
    format: JsonOutputFormat | None = None


class PromptRequest(BaseModel):
    """What count_tokens accepts: everything that makes up the prompt, and nothing else
    (https://platform.claude.com/docs/en/api/messages/count_tokens)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    system: Annotated[list[SystemBlock], BeforeValidator(_to_blocks)] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PromptRequest:
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tools: Tool names must be unique.")
        choice = self.tool_choice
        if choice is not None and choice.forced and not names:
            raise ValueError("tool_choice: tool_choice may only be specified while providing tools.")
        if choice is not None and choice.type == "tool" and choice.name is None:
            raise ValueError("tool_choice.name: Field required")
        if choice is not None and choice.type == "tool" and choice.name not in names:
            raise ValueError(f"tool_choice.name: Tool '{choice.name}' not found in the provided tools.")
        for position, message in enumerate(self.messages):
            final_assistant = position == len(self.messages) - 1 and message.role == "assistant"
            if not message.content and not final_assistant:
                raise ValueError(
                    f"messages.{position}: all messages must have non-empty content "
                    "except for the optional final assistant message"
                )
        return self

    def called_tool(self) -> Tool | None:
        """The forced tool, else the first custom tool: a stand-in has no judgement to pick otherwise."""
        if self.tool_choice is not None and self.tool_choice.type == "none":
            return None
        custom = [tool for tool in self.tools if tool.type == "custom"]
        forced = self.tool_choice.name if self.tool_choice is not None else None
        return next((tool for tool in custom if tool.name == forced), custom[0] if custom else None)

    def output_schema(self) -> dict[str, Any] | None:
        fmt = self.output_config.format if self.output_config is not None else None
        return fmt.schema_ if fmt is not None else None

    @property
    def effort(self) -> Effort | None:
        return self.output_config.effort if self.output_config is not None else None


class Metadata(BaseModel):
    """`metadata` takes `user_id` only (https://platform.claude.com/docs/en/api/messages; SDK `MetadataParam`)."""

    model_config = ConfigDict(extra="forbid")

    user_id: StrictStr | None = None


class Diagnostics(BaseModel):
    """SDK `DiagnosticsParam`: the previous response's id, for prompt-cache miss reasons."""

    model_config = ConfigDict(extra="forbid")

    previous_message_id: StrictStr | None = None


class MessagesRequest(PromptRequest):
    """https://platform.claude.com/docs/en/api/messages: the create-message body, every field the SDK's
    `MessageCreateParams` sends accepted (the stand-in ignores what it does not simulate: container,
    inference_geo, speed; `diagnostics` is answered, see `dealgraph.standin.diagnostics`)."""

    max_tokens: StrictInt = Field(ge=0)
    stream: StrictBool = False
    metadata: Metadata | None = None
    container: StrictStr | dict[str, Any] | None = None
    diagnostics: Diagnostics | None = None
    inference_geo: StrictStr | None = None
    speed: Literal["standard", "fast"] | None = None
    stop_sequences: list[StrictStr] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: StrictInt | None = None
    service_tier: Literal["auto", "standard_only"] | None = None


_PromptRequestT = TypeVar("_PromptRequestT", bound=PromptRequest)


def parse_prompt(model: type[_PromptRequestT], body: object) -> tuple[_PromptRequestT, Mapping[str, Any]]:
    """The parsed request for decisions, and the raw body (now known to be well-formed) for content."""
    if not isinstance(body, Mapping):
        raise ApiError(400, "The request body must be a JSON object.")
    return validate_as(model, body), body
