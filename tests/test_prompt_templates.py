from dataclasses import replace
from datetime import date

import pytest

from dealgraph.agents.judge import PAIRWISE_JUDGE
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import SYSTEM_PROMPT, builtin_effort, instruction_text
from dealgraph.prompts.templates import (
    PROMPT_VARIABLES,
    SAMPLE_CONTEXT,
    AccountInfo,
    DealInfo,
    PromptContext,
    TemplateRenderError,
    builtin_templates,
    content_hash,
    render,
    unified_diff,
    validate_version,
)
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import render_for_prompt
from dealgraph.validation import ErrorCode, FieldError

MODELS = ("claude-sonnet-5-5", "claude-haiku-5-5")
VALID = {
    "system_text": "You analyse sales calls for {{ account.name }}.",
    "user_template": "Run the {{ agent }} analysis.",
    "model": MODELS[0],
    "max_tokens": 4096,
    "effort": "medium",
}
SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}}


def problems(**overrides: object) -> list[FieldError]:
    return validate_version(**{**VALID, **overrides}, allowed_models=MODELS)  # type: ignore[arg-type]


def only_problem(**overrides: object) -> FieldError:
    [error] = problems(**overrides)
    assert error.code is ErrorCode.INVALID
    return error


def test_a_valid_version_has_no_problems() -> None:
    assert problems() == []


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_blank_system_text(text: str) -> None:
    assert only_problem(system_text=text) == FieldError("systemText", "must not be blank")


def test_syntax_error_names_the_line() -> None:
    error = only_problem(user_template="Deal:\n\n{{ deal.name }\n")
    assert (error.field, error.message) == ("userTemplate", "syntax error on line 3: unexpected '}'")


def test_unknown_variables_are_listed_sorted_with_the_allowed_ones() -> None:
    error = only_problem(
        system_text="{{ trnscript }} {{ deal.name }} {% for p in peeple %}{{ p }}{% endfor %} {{ acount }}"
    )
    assert error.field == "systemText"
    assert "unknown variables: acount, peeple, trnscript" in error.message
    assert "account, agent, deal, meeting, participants, transcript" in error.message


def test_misspelled_attribute_is_caught_by_the_trial_render() -> None:
    error = only_problem(user_template="Deal stage:\n{{ deal.nmae }}")
    assert error.field == "userTemplate"
    assert "line 2" in error.message
    assert "'deal' has no attribute 'nmae'" in error.message
    assert "close_date" in error.message  # the attributes that do exist


def test_template_that_breaks_when_optional_values_are_missing() -> None:
    error = only_problem(user_template="Closes in {{ deal.close_date.split('-')[0] }}.")
    assert error.field == "userTemplate"
    assert "'None' has no attribute 'split'" in error.message
    assert "deal.close_date" in error.message


def test_template_rendering_to_blank_text() -> None:
    error = only_problem(user_template="{% if deal.stage == 'closed_won' %}Celebrate.{% endif %}")
    assert error.field == "userTemplate"
    assert "renders to blank text" in error.message


def test_python_errors_raised_while_rendering_are_reported() -> None:
    error = only_problem(user_template="{{ meeting.utterance_count / 0 }}")
    assert "ZeroDivisionError" in error.message


NESTED_TOO_DEEPLY = "is nested too deeply"
DEEP_TEMPLATES = [
    "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}",
    "{% if true %}" * 235 + "x" + "{% endif %}" * 235,
    "{{ " + "[" * 1000 + "]" * 1000 + " }}",
    "{{ " + "+".join(["1"] * 5000) + " }}",
    "{{ 'a'" + "|upper" * 3000 + " }}",
    "{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}",
]


@pytest.mark.parametrize("template", DEEP_TEMPLATES, ids=["parens", "ifs", "lists", "sum", "filters", "macro"])
def test_templates_nested_too_deeply_are_refused_and_fail_to_render(template: str) -> None:
    """Jinja's parser, compiler and renderer recurse, and Python limits the nesting of the code Jinja makes."""
    assert NESTED_TOO_DEEPLY in only_problem(user_template=template).message
    with pytest.raises(TemplateRenderError, match=NESTED_TOO_DEEPLY):  # a version saved before the check
        render(template, "ok", SAMPLE_CONTEXT)


@pytest.mark.parametrize("template", ["{{ 10 ** 100000 }}", "{{ 9 ** (9 ** 9) }}", "{{ 2 ** 99999999999999999 }}"])
def test_powers_too_large_to_write_out_are_refused_without_computing_them(template: str) -> None:
    error = only_problem(user_template=template)
    assert error.message == "line 1: '**' would give a number of more than 4300 digits"


def test_powers_too_large_for_the_calls_values_fail_to_render() -> None:
    assert render("ok", "{{ meeting.utterance_count ** 7 }}", SAMPLE_CONTEXT).user == "16384"
    with pytest.raises(TemplateRenderError, match="more than 4300 digits"):
        render("ok", "{{ meeting.utterance_count ** 10000000 }}", SAMPLE_CONTEXT)


FORMAT_TOO_WIDE = "has a number of 1000000 or more in its format"
TOO_MANY_STEPS = "goes past 100000 steps (loop iterations and items filtered)"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' * 10 ** 7 }}", "'*' would repeat to more than 1000000 items"),
        ("{{ 10 ** 7 * [1] }}", "'*' would repeat to more than 1000000 items"),
        ("{{ '%01000000000d' % 1 }}", f"'%' {FORMAT_TOO_WIDE}"),
        ("{{ '%.2000000f' % 1 }}", f"'%' {FORMAT_TOO_WIDE}"),
        ("{{ '%(a)100000000s' % {'a': 1} }}", f"'%' {FORMAT_TOO_WIDE}"),
        ("{{ '%*d' % (100000000, 1) }}", "'%' got 100000000, more than 1000000"),
        ("{{ '%100000000d' | format(1) }}", f"filter 'format' {FORMAT_TOO_WIDE}"),
        ("{{ '{:>1000000000}'.format(1) }}", f"'format' {FORMAT_TOO_WIDE}"),
        ("{{ 'x'.center(10 ** 9) }}", "'center' got 1000000000, more than 1000000"),
        ("{{ 'x' | center(10 ** 9) }}", "filter 'center' got 1000000000, more than 1000000"),
        ("{{ 'x' | indent(width=10 ** 9, first=true) }}", "filter 'indent' got 1000000000, more than 1000000"),
        ("{{ ('x' * 1000) | replace('x', 'y' * 100000) }}", "filter 'replace' would make more than 1000000 items"),
        ("{{ ('x' * 1000).replace('x', 'y' * 100000) }}", "'replace' would make more than 1000000 items"),
        ("{{ (['x' * 1000000] * 2) | join }}", "filter 'join' makes 2000000 items, more than 1000000"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "'~' makes 1048576 items, more than 1000000",
        ),
        ("{% for c in 'x' * 400 %}{% for d in 'y' * 400 %}x{% endfor %}{% endfor %}", f"a loop {TOO_MANY_STEPS}"),
        ("{% for i in range(500) %}{% for j in range(500) %}x{% endfor %}{% endfor %}", f"range() {TOO_MANY_STEPS}"),
        ("{{ range(100000) | groupby('real') }}", f"filter 'groupby' {TOO_MANY_STEPS}"),
        ("{{ range(200000) | list }}", f"range() {TOO_MANY_STEPS}"),
    ],
)
def test_work_and_sizes_that_would_hold_the_process_are_refused(template: str, message: str) -> None:
    """Each was measured holding the event loop for seconds, or building strings of 100 MB to 1 GB."""
    assert only_problem(user_template=template).message == f"line 1: {message}"


def test_rendering_stops_once_the_text_is_too_long() -> None:
    template = "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}"
    assert only_problem(user_template=template).message == "renders more than 1000000 characters"


def test_each_render_gets_its_own_budget() -> None:
    """A template that loops near the limit renders every time, not only the first."""
    template = "{% for i in range(40000) %}{% endfor %}ok"
    for _ in range(3):
        assert render("ok", template, SAMPLE_CONTEXT).user == "ok"


def test_sizes_from_the_calls_values_are_bounded_when_rendering() -> None:
    assert render("ok", "{{ '-' * meeting.utterance_count }}", SAMPLE_CONTEXT).user == "----"
    with pytest.raises(TemplateRenderError, match="more than 1000000 items"):
        render("ok", "{{ '-' * meeting.utterance_count * 10 ** 6 }}", SAMPLE_CONTEXT)


def test_lorem_ipsum_is_not_available() -> None:
    """`lipsum(10**5)` held the event loop for 11 s while the version was checked."""
    assert only_problem(user_template="{{ lipsum(100000) }}").message.startswith("unknown variables: lipsum")


def test_integer_literal_too_long_to_read_is_refused() -> None:
    error = only_problem(system_text="{{ " + "9" * 5000 + " }}")
    assert error.field == "systemText"
    assert "Exceeds the limit (4300 digits)" in error.message


@pytest.mark.parametrize(
    "template", ["{{ '%c' % 55296 }}", "A{{ '\\ud800' }}", "{{ '%c' % (56319 + meeting.utterance_count) }}"]
)
@pytest.mark.parametrize("field", ["system_text", "user_template"])
def test_templates_rendering_a_lone_surrogate_are_refused_and_fail_to_render(field: str, template: str) -> None:
    """UTF-8 (what requests are sent as) cannot encode it: the SDK would fail with a UnicodeEncodeError."""
    error = only_problem(**{field: template})
    assert "renders an unpaired UTF-16 surrogate" in error.message
    with pytest.raises(TemplateRenderError, match="unpaired UTF-16 surrogate"):
        render(template, "ok", SAMPLE_CONTEXT)


@pytest.mark.parametrize(
    "template",
    [
        "{{ deal.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ participants.__class__.__base__.__subclasses__() }}",
        "{{ deal['__class__'] }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_blocks_escapes(template: str) -> None:
    error = only_problem(user_template=template)
    assert error.field == "userTemplate"
    assert "unsafe" in error.message
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("system", template, SAMPLE_CONTEXT)


def test_unknown_model() -> None:
    error = only_problem(model="gpt-4o")
    assert error.field == "model"
    assert all(model in error.message for model in MODELS)


@pytest.mark.parametrize("max_tokens", [255, 128_001, 0, -1])
def test_max_tokens_outside_the_models_output_limit(max_tokens: int) -> None:
    assert only_problem(max_tokens=max_tokens) == FieldError("maxTokens", "must be between 256 and 128000")


@pytest.mark.parametrize("max_tokens", [256, 128_000])
def test_max_tokens_bounds_are_inclusive(max_tokens: int) -> None:
    assert problems(max_tokens=max_tokens) == []


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-5", "claude-sonnet-5-5-latest"])
def test_unknown_models_are_refused_with_the_usable_ones(model: str) -> None:
    assert only_problem(model=model) == FieldError(
        "model", f"unknown or not allowed model '{model}'; use one of: claude-sonnet-5-5, claude-haiku-5-5"
    )


def test_a_known_model_must_also_be_allowed_here() -> None:
    error = only_problem(model="claude-opus-5-5")
    assert error.field == "model" and "claude-opus-5-5" in error.message


@pytest.mark.parametrize("effort", ["minimal", "HIGH", ""])
def test_effort_outside_the_models_levels(effort: str) -> None:
    assert only_problem(effort=effort) == FieldError("effort", "must be one of: low, medium, high, xhigh, max")


@pytest.mark.parametrize("effort", [None, "low", "max"])
def test_effort_is_optional(effort: str | None) -> None:
    assert problems(effort=effort) == []


def test_every_problem_is_reported_at_once() -> None:
    errors = problems(system_text=" ", user_template="{{ deal.nmae }}", model="nope", max_tokens=10, effort="extreme")
    assert [error.field for error in errors] == ["systemText", "userTemplate", "model", "maxTokens", "effort"]


def test_sample_context_provides_exactly_the_documented_variables() -> None:
    assert set(SAMPLE_CONTEXT.as_variables()) == set(PROMPT_VARIABLES)
    assert all(description.strip() and "\n" not in description for description in PROMPT_VARIABLES.values())


USES_EVERY_VARIABLE = """\
Call "{{ meeting.title }}" on {{ meeting.date }} ({{ meeting.utterance_count }} turns) for {{ agent }}.
Account: {{ account.name }}{% if account.domain %} ({{ account.domain }}){% endif %}
Deal: {{ deal.name }}, {{ deal.stage }}, {{ deal.amount or "no amount" }} {{ deal.currency }}, \
closes {{ deal.close_date or "unknown" }}
Participants: {{ participants | join(", ") }}
{% for name in participants %}- {{ loop.index }}. {{ name | upper }}
{% endfor %}{{ transcript }}
"""


def test_valid_template_using_every_variable_and_loops_renders() -> None:
    assert problems(user_template=USES_EVERY_VARIABLE) == []
    context = PromptContext.for_call(
        [
            Utterance(0, "Ana", 5.0, 9.0, "Um, we need SSO."),
            Utterance(1, "Ben", 9.0, 12.0, "Noted."),
            Utterance(2, "Ana", 75.0, 80.0, "And a DPA."),
        ],
        title="Security review",
        occurred_on=date(2025, 3, 4),
        deal=DealInfo(name="Acme expansion", stage="proposal", amount=None, currency="EUR", close_date=None),
        account=AccountInfo(name="Acme", domain=None),
        agent="stakeholders",
    )
    assert render("System.", USES_EVERY_VARIABLE, context).user == (
        'Call "Security review" on 2025-03-04 (3 turns) for stakeholders.\n'
        "Account: Acme\n"
        "Deal: Acme expansion, proposal, no amount EUR, closes unknown\n"
        "Participants: Ana, Ben\n"
        "- 1. ANA\n"
        "- 2. BEN\n"
        "[0 00:05] Ana: we need SSO.\n"
        "[1 00:09] Ben: Noted.\n"
        "[2 01:15] Ana: And a DPA.\n"
    )


def test_render_returns_both_templates_and_keeps_trailing_newlines() -> None:
    rendered = render("For {{ account.name }}.\n", "Agent {{ agent }}", SAMPLE_CONTEXT)
    assert (rendered.system, rendered.user) == ("For Northwind Traders.\n", "Agent meddpicc")


def test_sample_transcript_is_what_the_model_is_shown() -> None:
    assert (
        SAMPLE_CONTEXT.transcript.splitlines()[0]
        == "[0 00:00] Dana Reyes: Thanks for making time, Raj. what prompted the call?"
    )
    assert SAMPLE_CONTEXT.meeting.utterance_count == len(SAMPLE_CONTEXT.transcript.splitlines())


def test_undefined_values_raise_instead_of_rendering_empty() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render("ok", "{{ missing }}", SAMPLE_CONTEXT)
    assert caught.value.field == "userTemplate"
    assert "'missing' is undefined" in caught.value.message
    with pytest.raises(TemplateRenderError, match="systemText: line 1: 'account' has no attribute 'tier'"):
        render("{{ account.tier }}", "ok", SAMPLE_CONTEXT)


def test_render_reports_syntax_errors_of_stored_versions() -> None:
    with pytest.raises(TemplateRenderError, match="syntax error on line 1"):
        render("{% if %}", "ok", SAMPLE_CONTEXT)


def hash_of(**overrides: object) -> str:
    return content_hash(**{**VALID, "output_schema": SCHEMA, **overrides})  # type: ignore[arg-type]


def test_content_hash_is_stable() -> None:
    reordered_schema = {"properties": {"summary": {"type": "string"}}, "type": "object"}
    assert hash_of() == hash_of(output_schema=reordered_schema)
    assert len(hash_of()) == 64 and set(hash_of()) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    "change",
    [
        {"system_text": VALID["system_text"] + " "},
        {"user_template": VALID["user_template"] + "\n"},
        {"model": MODELS[1]},
        {"max_tokens": 4097},
        {"effort": None},
        {"effort": "high"},
        {"output_schema": {"type": "object"}},
    ],
)
def test_content_hash_changes_with_any_field(change: dict[str, object]) -> None:
    assert hash_of(**change) != hash_of()


def test_identical_versions_have_no_diff() -> None:
    assert unified_diff("meddpicc v1", VALID, "meddpicc v2", dict(VALID)) == ""


def test_diff_shows_changed_lines_under_version_headers() -> None:
    before = {**VALID, "system_text": "Line one.\nLine two.\nLine three.", "effort": None}
    after = {**before, "system_text": "Line one.\nLine 2.\nLine three.", "max_tokens": 8000, "output_schema": SCHEMA}
    diff = unified_diff("meddpicc v1", before, "meddpicc v2", after)
    lines = diff.splitlines()
    assert lines[:2] == ["--- meddpicc v1", "+++ meddpicc v2"]
    assert "-max_tokens: 4096" in lines and "+max_tokens: 8000" in lines
    assert "-Line two." in lines and "+Line 2." in lines
    assert " Line one." in lines and " === system text ===" in lines
    assert not any(line.startswith(("-effort", "+effort", "-model", "+model")) for line in lines)
    assert diff.endswith("\n")


def test_diff_shows_a_changed_trailing_newline() -> None:
    diff = unified_diff("v1", VALID, "v2", {**VALID, "user_template": VALID["user_template"] + "\n"})
    assert "+" in diff.splitlines()[2:]  # the added empty last line


def test_diff_shows_effort_and_its_model_default() -> None:
    diff = unified_diff("v1", VALID, "v2", {**VALID, "effort": None})
    assert "-effort: medium" in diff.splitlines() and "+effort: model default" in diff.splitlines()


@pytest.mark.parametrize("kind", list(AgentKind))
def test_builtin_templates_validate_and_reproduce_the_shipped_prompt(kind: AgentKind) -> None:
    system_text, user_template = builtin_templates(kind.value)
    assert (
        validate_version(
            system_text=system_text,
            user_template=user_template,
            model=MODELS[0],
            max_tokens=4096,
            effort=builtin_effort(kind),
            allowed_models=MODELS,
        )
        == []
    )
    rendered = render(system_text, user_template, replace(SAMPLE_CONTEXT, agent=kind.value))
    assert rendered.system == SYSTEM_PROMPT == instruction_text("system")
    assert rendered.user == f"{instruction_text(kind.value)}\n\nAnswer with one JSON object in the requested format."
    assert not instruction_text(kind.value).startswith("---")  # the front matter is not sent


def test_the_judges_builtin_template_validates_and_names_the_agent_it_compares() -> None:
    system_text, user_template = builtin_templates(PAIRWISE_JUDGE)
    effort = builtin_effort(PAIRWISE_JUDGE)
    assert validate_version(
        system_text=system_text,
        user_template=user_template,
        model=MODELS[0],
        max_tokens=4096,
        effort=effort,
        allowed_models=MODELS,
    ) == [] and effort in ("low", "medium", "high")
    rendered = render(system_text, user_template, replace(SAMPLE_CONTEXT, agent=AgentKind.STAKEHOLDERS.value))
    assert rendered.system == SYSTEM_PROMPT
    assert "each is the JSON output of the `stakeholders` analysis" in " ".join(rendered.user.split())
    assert not rendered.user.startswith("---") and rendered.user.endswith("in the requested format.")


def test_builtin_templates_reject_unknown_agents() -> None:
    with pytest.raises(ValueError):
        builtin_templates("system")


def test_transcript_variable_matches_the_prompt_rendering() -> None:
    utterances = [Utterance(0, "Ana", 3725.0, None, "Uh, fine.")]
    context = replace(SAMPLE_CONTEXT, transcript=render_for_prompt(utterances))
    assert render("s", "{{ transcript }}", context).user == "[0 1:02:05] Ana: fine."
