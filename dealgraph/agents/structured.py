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

from typing import Any

from pydantic import BaseModel


def answer_schema(model: type[BaseModel], *, title: str, description: str) -> dict[str, Any]:
    # Imported here: the SDK takes seconds to import, which commands that send no request should not wait for.
    from anthropic import transform_schema

    return {**transform_schema(model), "title": title, "description": description}
