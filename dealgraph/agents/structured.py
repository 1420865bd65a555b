"""The JSON schema a structured-output request carries for an answer model.

The SDK's own transform (`anthropic.transform_schema`) turns the pydantic model into the subset structured outputs
accept: unsupported keywords such as minimum/maximum move into descriptions, and pydantic still enforces them
on the answer. The title names the answer's author, so logs and the stand-in can tell which answer a request
asks for.

    >>> from pydantic import BaseModel
    >>> class Verdict(BaseModel):
    ...     winner: str
    >>> answer_schema(Verdict, title="judge", description="Which answer is better.")["title"]
    'judge'
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from pydantic import BaseModel


def answer_schema(model: type[BaseModel], *, title: str, description: str) -> dict[str, Any]:
    # Imported here: the SDK takes seconds to import, which commands that send no request should not wait for.
    from anthropic import transform_schema

    return {**transform_schema(model), "title": title, "description": description}


def answer_schema_source(model: type[BaseModel], *, title: str, description: str) -> dict[str, Any]:
    """What `answer_schema` computes its schema from, without the SDK: the model's own JSON schema and the SDK's
    version (its transform). Equal sources give equal schemas, so a process that finds the built-in prompts
    seeded from this source need not import the SDK to compute them again (`dealgraph.bootstrap`)."""
    return {
        "model": model.model_json_schema(),
        "title": title,
        "description": description,
        "transform": f"anthropic {version('anthropic')}",
    }
