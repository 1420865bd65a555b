"""Who may use a field, declared on the field itself so a new resolver cannot forget the check.

Strawberry runs these before the resolver; a refusal is the API's FORBIDDEN error. A test walks the
schema and fails if a prompt-changing mutation or an admin-only ("Admins: …") field lacks `IsAdmin`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from dealgraph.db.models import Role
from dealgraph.db.repositories.prompts import PRODUCTION
from dealgraph.errors import Forbidden


class IsAdmin(BasePermission):
    message = "This operation requires the admin role."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return bool(info.context.viewer.role is Role.ADMIN)

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message or "")


class AdminForUnpublishedPrompts(BasePermission):
    """Unpublished (e.g. 'staging') prompt versions are for admins trying them out; members run production."""

    message = f"Only admins may run a prompt label other than '{PRODUCTION}'."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return kwargs.get("prompt_label", PRODUCTION) == PRODUCTION or info.context.viewer.role is Role.ADMIN

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message or "")
