"""Admin of the QuickBooks integration, one module per page (STYLE §1)."""

from . import audit, connection, runs  # noqa: F401  (registration side effects)
