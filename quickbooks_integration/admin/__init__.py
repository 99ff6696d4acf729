"""Admin of the QuickBooks integration, one module per page (STYLE §1); importing them registers them."""

from . import (  # noqa: F401
    audit,
    campaign_targeting,
    conflicts,
    connection,
    crm_extensions,
    dashboards,
    failures,
    followups,
    ledger,
    product_actions,
    reconcile,
    review,
    runs,
    sales_actions,
    webhooks,
)
