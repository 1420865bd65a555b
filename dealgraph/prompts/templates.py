"""Admin-edited agent prompts: Jinja templates checked before they are saved and rendered per call.

Templates are written by tenant admins, so they run in Jinja's sandbox and may only use the fixed
variables of `PROMPT_VARIABLES`. A version is validated by rendering it against `SAMPLE_CONTEXT`
(and a copy whose optional values are empty): mistakes that Jinja reports only at render time
(misspelled attributes, sandbox violations) then surface when the admin saves, not mid-analysis.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import TemplateRuntimeError
from jinja2.utils import missing

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import (
    SYSTEM_PROMPT,
    TEMPLATE_NAMES,
    instruction_text,
    output_schema_of,
    output_schema_source_of,
)
from dealgraph.claude.models import EFFORTS, MODELS, Effort
from dealgraph.prompts.sandbox import PromptEnvironment, bounded_render
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import render_for_prompt
from dealgraph.validation import Checker, FieldError, unstorable_reason

PROMPT_VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "transcript": "The call as the model sees it, one `[index mm:ss] Speaker: text` line per utterance "
        "(fillers removed). Every request already carries it in a cached system block, so templates "
        "rarely need to repeat it.",
        "participants": "The speaker names, in order of first appearance (a list: `{% for name in participants %}`).",
        "meeting": "The call: `meeting.title`, `meeting.date` (ISO date) and `meeting.utterance_count`.",
        "deal": "The deal: `deal.name`, `deal.stage`, `deal.amount` (decimal string or none), "
        "`deal.currency` (ISO 4217 code) and `deal.close_date` (ISO date or none).",
        "account": "The buying company: `account.name` and `account.domain` (or none).",
        "agent": "The agent's key, also the title of the JSON schema its answer follows: meddpicc, "
        "action_items, stakeholders or meeting_intelligence; in the pairwise judge's templates, the agent whose "
        "answers it compares.",
    }
)

_SYSTEM_TEXT = "systemText"
_USER_TEMPLATE = "userTemplate"


@dataclass(frozen=True)
class MeetingInfo:
    title: str
    date: str
    utterance_count: int


@dataclass(frozen=True)
class DealInfo:
    name: str
    stage: str
    amount: str | None
    currency: str
    close_date: str | None


@dataclass(frozen=True)
class AccountInfo:
    name: str
    domain: str | None


@dataclass(frozen=True)
class PromptContext:
    """The values of `PROMPT_VARIABLES` for one agent run on one call."""

    transcript: str
    participants: tuple[str, ...]
    meeting: MeetingInfo
    deal: DealInfo
    account: AccountInfo
    agent: str

    @classmethod
    def for_call(
        cls,
        utterances: Sequence[Utterance],
        *,
        title: str,
        occurred_on: date,
        deal: DealInfo,
        account: AccountInfo,
        agent: str,
    ) -> PromptContext:
        """Derives the transcript variables from the utterances, so they match the cached transcript block."""
        return cls(
            transcript=render_for_prompt(utterances),
            participants=tuple(dict.fromkeys(u.speaker for u in utterances)),
            meeting=MeetingInfo(title=title, date=f"{occurred_on:%Y-%m-%d}", utterance_count=len(utterances)),
            deal=deal,
            account=account,
            agent=agent,
        )

    def as_variables(self) -> dict[str, Any]:
        """Shallow on purpose: nested values stay objects so error messages can name the variable."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SAMPLE_CONTEXT = PromptContext.for_call(
    (
        Utterance(0, "Dana Reyes", 0.0, 6.5, "Thanks for making time, Raj. Um, what prompted the call?"),
        Utterance(1, "Raj Patel", 6.5, 19.0, "We lose about ten hours a week reconciling forecasts by hand."),
        Utterance(2, "Maria Chen", 19.0, 27.5, "And I sign off on anything over fifty thousand, you know."),
        Utterance(3, "Dana Reyes", 27.5, 35.0, "Understood. I'll send a proposal with pilot pricing by Friday."),
    ),
    title="Discovery call: forecasting rollout",
    occurred_on=date(2025, 6, 12),
    deal=DealInfo(
        name="Northwind forecasting rollout",
        stage="discovery",
        amount="48000.00",
        currency="USD",
        close_date="2025-09-30",
    ),
    account=AccountInfo(name="Northwind Traders", domain="northwind.example"),
    agent=AgentKind.MEDDPICC.value,
)

# Real deals often lack these; a template that only works when they are set must fail validation.
_SPARSE_CONTEXT = replace(
    SAMPLE_CONTEXT,
    deal=replace(SAMPLE_CONTEXT.deal, amount=None, close_date=None),
    account=replace(SAMPLE_CONTEXT.account, domain=None),
)
_TRIAL_CONTEXTS: tuple[tuple[PromptContext, str], ...] = (
    (SAMPLE_CONTEXT, ""),
    (_SPARSE_CONTEXT, " (when deal.amount, deal.close_date and account.domain are none)"),
)

_VARIABLE_NAMES = {MeetingInfo: "meeting", DealInfo: "deal", AccountInfo: "account"}


class _NamingUndefined(StrictUndefined):
    """Names the template variable and its attributes instead of the Python class behind it."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        variable = _VARIABLE_NAMES.get(type(obj))
        if hint is None and variable is not None:
            known = ", ".join(f.name for f in fields(obj))
            hint = f"{variable!r} has no attribute {name!r} (it has: {known})"
        super().__init__(hint, obj, name, exc)


_ENV = PromptEnvironment(undefined=_NamingUndefined, autoescape=False, keep_trailing_newline=True)
_TEMPLATE_FILENAME = "<template>"  # what Jinja names the frames of templates made by from_string


class TemplateRenderError(Exception):
    """A stored version failed to render; `field` says which template, in the API's spelling."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RenderedTemplates:
    system: str
    user: str


def render(system_text: str, user_template: str, context: PromptContext) -> RenderedTemplates:
    variables = context.as_variables()
    return RenderedTemplates(
        system=_render_one(_SYSTEM_TEXT, system_text, variables),
        user=_render_one(_USER_TEMPLATE, user_template, variables),
    )


@lru_cache(maxsize=128)
def _compile(source: str) -> Template:
    """Versions are immutable and rendered once per agent run, so each source is compiled once."""
    return _ENV.from_string(source)


def _render_one(field: str, source: str, variables: Mapping[str, Any]) -> str:
    try:
        text = bounded_render(_compile(source), variables)
    except Exception as error:  # anything a sandboxed template raises is the template's fault
        raise TemplateRenderError(field, _describe(error)) from error
    if not text.strip():
        raise TemplateRenderError(field, "renders to blank text, which the Messages API rejects")
    if reason := unstorable_reason(text):  # `'%c' % 55296` renders a lone surrogate: the SDK could not encode it
        raise TemplateRenderError(field, f"renders {reason}, which requests to the model must not carry")
    return text


def _describe(error: Exception) -> str:
    """Points at the template line, since admins know their template, not Jinja's internals."""
    if isinstance(error, TemplateSyntaxError):
        return f"syntax error on line {error.lineno}: {error.message}"
    if isinstance(error, RecursionError | SyntaxError):  # Jinja's recursion, or Python's limits on the code it made
        message = "is nested too deeply (blocks, brackets, macro calls or long chains of operators and filters)"
    elif isinstance(error, TemplateError):
        message = str(error)
    else:
        message = f"{type(error).__name__}: {error}"
    lines = [
        frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == _TEMPLATE_FILENAME
    ]
    return f"line {lines[-1]}: {message}" if lines else message


MIN_MAX_TOKENS = 256


def validate_version(
    *,
    system_text: str,
    user_template: str,
    model: str,
    max_tokens: int,
    effort: str | None,
    allowed_models: Sequence[str],
) -> list[FieldError]:
    """Every problem of a draft version at once, so an admin fixes them in one round trip.

    The model must be one this server knows the rules of (`claude_models.MODELS`) as well as allowed
    here: a version that would make every run fail with the API's 400 or 404 is refused when saved.
    """
    templates = ((_SYSTEM_TEXT, system_text), (_USER_TEMPLATE, user_template))
    errors = [
        FieldError(field, problem) for field, source in templates if (problem := _template_problem(field, source))
    ]
    checker = Checker()
    caps = MODELS.get(model)
    usable = [name for name in allowed_models if name in MODELS]
    checker.check(
        caps is not None and model in allowed_models,
        "model",
        f"unknown or not allowed model '{model}'; use one of: {', '.join(usable)}",
    )
    checker.check(
        caps is None or caps.structured_outputs,
        "model",
        f"'{model}' does not support structured outputs, which the agents' answers need",
    )
    high = caps.max_output_tokens if caps is not None else max(m.max_output_tokens for m in MODELS.values())
    checker.check(MIN_MAX_TOKENS <= max_tokens <= high, "maxTokens", f"must be between {MIN_MAX_TOKENS} and {high}")
    accepted = sorted(caps.efforts if caps is not None else EFFORTS, key=EFFORTS.index)
    checker.check(effort is None or effort in accepted, "effort", f"must be one of: {', '.join(accepted)}")
    return errors + checker.errors


def _template_problem(field: str, source: str) -> str | None:
    """The first problem only: each check is meaningless while an earlier one fails."""
    if not source.strip():
        return "must not be blank"
    try:
        declared = meta.find_undeclared_variables(_ENV.parse(source))
    except Exception as error:  # as when rendering: a recursion limit, a constant too large to write out
        return _describe(error)
    unknown = sorted(declared - PROMPT_VARIABLES.keys())
    if unknown:
        return f"unknown variables: {', '.join(unknown)}; available: {', '.join(sorted(PROMPT_VARIABLES))}"
    for context, circumstance in _TRIAL_CONTEXTS:
        try:
            _render_one(field, source, context.as_variables())
        except TemplateRenderError as error:
            return error.message + circumstance
    return None


def version_fields(
    name: str, *, system_text: str, user_template: str, model: str, max_tokens: int, effort: Effort | None
) -> dict[str, Any]:
    """The content of a version of the template `name` (an agent's key, or the judge's); its output schema is
    recorded with it, as the code defines it now."""
    return {
        "system_text": system_text,
        "user_template": user_template,
        "model": model,
        "max_tokens": max_tokens,
        "effort": effort,
        "output_schema": output_schema_of(name),
    }


def content_hash(
    *,
    system_text: str,
    user_template: str,
    model: str,
    max_tokens: int,
    effort: str | None,
    output_schema: Mapping[str, Any],
) -> str:
    """Identifies a version by everything that shapes the model's answer, so unchanged saves are detectable."""
    canonical = json.dumps(
        {
            "system_text": system_text,
            "user_template": user_template,
            "model": model,
            "max_tokens": max_tokens,
            "effort": effort,
            "output_schema": dict(output_schema),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def source_hash(
    name: str, *, system_text: str, user_template: str, model: str, max_tokens: int, effort: Effort | None
) -> str:
    """Identifies what a version of the template `name` is made from, computed without the Claude SDK: the content
    hash with its output schema's source (`answer_schema_source`) in place of the schema. Start-up seeds the
    built-in versions only when their source hash changed, so a process that never calls Claude never imports
    the SDK (a second of CPU at every start of every process)."""
    return content_hash(
        system_text=system_text,
        user_template=user_template,
        model=model,
        max_tokens=max_tokens,
        effort=effort,
        output_schema=output_schema_source_of(name),
    )


def version_text(fields: Mapping[str, object]) -> str:
    """One plain-text page per version, laid out so a line diff of two pages reads as a review.

    `fields` needs the keys system_text, user_template, model, max_tokens and effort; others
    (ids, notes, the output schema) are ignored, so a stored version's columns can be passed as is.
    """
    effort = fields["effort"]
    lines = [
        f"model: {fields['model']}",
        f"max_tokens: {fields['max_tokens']}",
        f"effort: {'model default' if effort is None else effort}",
    ]
    for key, title in (("system_text", "system text"), ("user_template", "user template")):
        lines += ["", f"=== {title} ===", str(fields[key])]
    return "\n".join(lines)


def unified_diff(
    from_label: str, from_fields: Mapping[str, object], to_label: str, to_fields: Mapping[str, object]
) -> str:
    """Split on "\\n" only, so a changed trailing newline (kept by the templates) shows as a changed line."""
    lines = difflib.unified_diff(
        version_text(from_fields).split("\n"),
        version_text(to_fields).split("\n"),
        fromfile=from_label,
        tofile=to_label,
        lineterm="",
    )
    return "".join(f"{line}\n" for line in lines)


def builtin_templates(name: str) -> tuple[str, str]:
    """The shipped prompt of an agent or the judge as an editable (system_text, user_template), saying what
    `build_request` says."""
    if name not in TEMPLATE_NAMES:  # refused before it becomes a file name
        raise ValueError(f"no built-in prompt template is named {name!r}")
    return SYSTEM_PROMPT, f"{instruction_text(name)}\n\nAnswer with one JSON object in the requested format."
