"""Models of the QuickBooks integration, one module per concern (STYLE §1)."""

from .alerts import AlertIncident
from .analytics import Dashboard as Dashboard  # the dashboards' permission (admin/dashboards.py)
from .audit import AuditEvent
from .connection import QuickBooksAuth, fernet_caches_clear
from .failures import SyncFailure
from .followups import FollowUp, FollowUpRule
from .limits import RealmSlot, RealmThrottle
from .matching import ContactConflict, MatchCandidate
from .mirror import QuickBooksSync
from .runs import SyncRun
from .webhooks import WebhookEvent

__all__ = [
    "AlertIncident",
    "AuditEvent",
    "ContactConflict",
    "FollowUp",
    "FollowUpRule",
    "MatchCandidate",
    "QuickBooksAuth",
    "QuickBooksSync",
    "RealmSlot",
    "RealmThrottle",
    "SyncFailure",
    "SyncRun",
    "WebhookEvent",
    "fernet_caches_clear",
]
