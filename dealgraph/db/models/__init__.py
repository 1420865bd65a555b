"""All mapped tables; importing this module registers them on `Base.metadata` (alembic needs that)."""

from dealgraph.db.models.crm import Account, Deal, DealStage
from dealgraph.db.models.tenancy import ApiKey, Role, Tenant, User
from dealgraph.db.models.transcripts import Transcript, TranscriptUtterance

__all__ = [
    "Account",
    "ApiKey",
    "Deal",
    "DealStage",
    "Role",
    "Tenant",
    "Transcript",
    "TranscriptUtterance",
    "User",
]
