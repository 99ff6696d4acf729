"""Admin of the QuickBooks integration, one module per page (STYLE §1)."""

from . import audit, connection, crm_extensions, failures, ledger, runs  # noqa: F401  (registration side effects)
