"""What the integration adds to the CRM's Contact, Quote and Invoice admins, through `crm.admin.extensions`.

The CRM imports nothing of the integration (DESIGN §1); this module, imported by the integration's `admin`
package at admin autodiscovery, registers:

- a read-only "QuickBooks" list column: the record's QBO id (customer, estimate, invoice), or "—" when unlinked;
- a history provider: the `AuditEvent` rows about the record (`object_type` = its model label, `object_id` = its
  pk), so its admin history page shows its QuickBooks operations beside its CRM edits.

Admin actions that push to QBO are added here the same way (`extensions.extend(Quote, actions=[...])`), built with
`crm.admin.actions.object_action(..., audit=False)` since the integration's services write their own `AuditEvent`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.db import models

from crm.admin import extensions
from crm.models import Contact, Invoice, Quote

from ..models import AuditEvent

QUICKBOOKS_ID_FIELDS: dict[type[models.Model], str] = {
    Contact: "quickbooks_customer_id",
    Quote: "quickbooks_estimate_id",
    Invoice: "quickbooks_invoice_id",
}
UNLINKED = "—"


def quickbooks_column(field_name: str):
    """A list column showing `field_name` (a column of the row itself: no query per row), sortable by it."""

    @admin.display(description="QuickBooks", ordering=field_name)
    def quickbooks(obj: models.Model) -> str:
        return getattr(obj, field_name) or UNLINKED

    return quickbooks


def audit_history(*, obj: models.Model) -> Iterable[extensions.HistoryEntry]:
    """The QuickBooks operations recorded about `obj`, as history entries."""
    events = AuditEvent.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk)).order_by("at", "id")
    return [
        extensions.HistoryEntry(
            at=event.at,
            actor=event.actor_label or "system",
            action=event.action,
            source="QuickBooks",
            outcome=event.get_outcome_display(),
            message=event.message,
        )
        for event in events
    ]


for _model, _field in QUICKBOOKS_ID_FIELDS.items():
    extensions.extend(_model, list_display=[quickbooks_column(_field)], history=[audit_history])
