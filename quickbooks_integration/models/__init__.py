"""Models of the QuickBooks integration, one module per concern (STYLE §1)."""

from .alerts import AlertIncident
from .audit import AuditEvent
from .connection import QuickBooksAuth, fernet_caches_clear
from .failures import SyncFailure
from .limits import RealmSlot, RealmThrottle
from .mirror import QuickBooksSync
from .runs import SyncRun

__all__ = [
    "AlertIncident",
    "AuditEvent",
    "QuickBooksAuth",
    "QuickBooksSync",
    "RealmSlot",
    "RealmThrottle",
    "SyncFailure",
    "SyncRun",
    "fernet_caches_clear",
]
