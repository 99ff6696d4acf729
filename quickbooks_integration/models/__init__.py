"""Models of the QuickBooks integration, one module per concern (STYLE §1)."""

from .audit import AuditEvent
from .connection import QuickBooksAuth, fernet_caches_clear
from .limits import RealmSlot, RealmThrottle
from .runs import SyncRun

__all__ = ["AuditEvent", "QuickBooksAuth", "fernet_caches_clear", "RealmSlot", "RealmThrottle", "SyncRun"]
