"""Revenue insights: read-only selectors behind the admin dashboards (STYLE §2), one module per topic.

- `common`: the date range, billed invoices, day arithmetic in SQL, headline totals, last QuickBooks sync.
- `segments`: high-value customers, fast and slow payers, service frequency, revenue by city and ZIP.
- `campaigns`: the attribution rule, ROI per campaign, seasonal timing per service, a campaign's audience.
- `forecast`: open quotes × win rate by amount and age, open invoices by expected collection, per month.
- `prediction`: the chance an open invoice is paid late, and the model's back-test.
- `margins`: (price − cost) × quantity by product and by item type.
- `lifetime`: customer lifetime value, ranked.
- `metrics`: the plan's business metrics per month.
- `charts`: the geometry of the server-drawn SVG charts (no database).

They write nothing and call no QuickBooks API; every sum is taken by the database over the CRM's own rows (which
the sync keeps equal to QuickBooks), so a page costs a fixed number of queries whatever the data's size.
Definitions, with the reasons for each choice: docs/analytics.md.
"""

from .campaigns import ATTRIBUTION_WINDOW_DAYS, attributed_campaign, campaign_audience, campaign_roi, seasonal_timing
from .common import DateRange, quickbooks_last_synced, revenue_by_month, totals
from .forecast import revenue_forecast, win_rates
from .lifetime import customer_lifetime_values
from .margins import margins_by_service
from .metrics import business_metrics
from .prediction import open_invoice_predictions, payment_backtest
from .segments import high_value_customers, payers_by_speed, revenue_by_area, service_frequency

__all__ = [
    "ATTRIBUTION_WINDOW_DAYS",
    "DateRange",
    "attributed_campaign",
    "business_metrics",
    "campaign_audience",
    "campaign_roi",
    "customer_lifetime_values",
    "high_value_customers",
    "margins_by_service",
    "open_invoice_predictions",
    "payers_by_speed",
    "payment_backtest",
    "quickbooks_last_synced",
    "revenue_by_area",
    "revenue_by_month",
    "revenue_forecast",
    "seasonal_timing",
    "service_frequency",
    "totals",
    "win_rates",
]
