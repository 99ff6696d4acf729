"""What the integration adds to the CRM's Contact, Quote and Invoice admins, through `crm.admin.extensions`.

The CRM imports nothing of the integration (DESIGN §1); this module, imported by the integration's `admin`
package at admin autodiscovery, registers:

- a read-only "QuickBooks" list column: the record's QBO id (customer, estimate, invoice), or "—" when unlinked;
- a history provider: the `AuditEvent` rows about the record (`object_type` = its model label, `object_id` = its
  pk), so its admin history page shows its QuickBooks operations beside its CRM edits;
- the contact actions "Create in QuickBooks" and "Update QuickBooks" (`push_to_quickbooks`), and the duplicates
  pages (`duplicates.py`, imported below).

Admin actions that push to QBO are added here the same way (`extensions.extend(Quote, actions=[...])`), built with
`crm.admin.actions.object_action(..., audit=False)` since the integration's services write their own `AuditEvent`.
The two contact actions are not: `object_action` runs each object inside `transaction.atomic()`, and no transaction
may stay open across a QBO call (STYLE §2), nor may a failure row be rolled back with the failed work; so they check
the permission the same way (`action_permitted`), call the service once for the selection, count and report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.admin import extensions
from crm.admin.actions import action_permitted
from crm.models import Contact, Invoice, Quote

from ..models import AuditEvent
from ..qbo.errors import QuickBooksError
from ..qbo.tokens import connection_load
from ..services.connection import connection_current
from ..services.customer_push import PUSH_PERMISSION, PushError, PushOutcome, contacts_push_create
from ..services.customer_update import contact_push_update

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


PUSH_WORDS = {
    "created": "created in QuickBooks",
    "updated": "updated in QuickBooks",
    "unchanged": "already up to date in QuickBooks",
    "queued": "queued for the bookkeeper's review (QuickBooks may have them already)",
    "skipped": "skipped (already linked)",
    "not_linked": "not linked to a QuickBooks customer yet (use “Create in QuickBooks”)",
}


def _push_report(modeladmin: admin.ModelAdmin, request: HttpRequest, outcomes: list[PushOutcome]) -> None:
    """One message: counts per outcome, then each failure with its reason."""
    counts = Counter(outcome.status for outcome in outcomes)
    parts = [
        f"{counts[status]} {model_ngettext(modeladmin.opts, counts[status])} {words}."
        for status, words in PUSH_WORDS.items()
        if counts[status]
    ]
    queued = [o for o in outcomes if o.status == "queued"]
    if queued:
        parts.append("Review them in QuickBooks › Match candidates: " + "; ".join(o.message for o in queued[:5]))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        parts.append(
            f"{len(failed)} failed (see QuickBooks › Sync failures to retry): "
            + "; ".join(f"#{o.contact_id}: {o.message}" for o in failed[:10])
            + "."
        )
    level = messages.ERROR if failed and len(failed) == len(outcomes) else messages.WARNING
    if not failed and not counts["queued"] and not counts["not_linked"]:
        level = messages.SUCCESS
    modeladmin.message_user(request, " ".join(parts) or "No contacts selected.", level)


def _connection_for(modeladmin: admin.ModelAdmin, request: HttpRequest):
    current = connection_current()
    if current is None or current.status != current.Status.CONNECTED:
        state = current.get_status_display().lower() if current is not None else "not connected"
        modeladmin.message_user(request, f"QuickBooks is {state}: nothing was sent.", messages.ERROR)
        return None
    try:
        return connection_load(connection_id=current.pk)
    except QuickBooksError as error:
        modeladmin.message_user(request, str(error), messages.ERROR)
        return None


def _permitted(modeladmin: admin.ModelAdmin, request: HttpRequest, description: str) -> bool:
    if action_permitted(modeladmin, request, [PUSH_PERMISSION]):
        return True
    modeladmin.message_user(request, f"You may not {description.lower()}.", messages.ERROR)
    return False


@admin.action(description="Create in QuickBooks")
def create_in_quickbooks(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Create a customer per selected contact (batches of 30), unless QuickBooks may have it already."""
    if not _permitted(modeladmin, request, "create customers in QuickBooks"):
        return
    connection = _connection_for(modeladmin, request)
    if connection is None:
        return
    try:
        outcomes = contacts_push_create(connection=connection, contacts=list(queryset), actor=request.user)
    except PushError as error:
        modeladmin.message_user(request, str(error), messages.ERROR)
        return
    _push_report(modeladmin, request, outcomes)


@admin.action(description="Update QuickBooks")
def update_quickbooks(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Send each selected, linked contact's changed details to its QuickBooks customer."""
    if not _permitted(modeladmin, request, "update customers in QuickBooks"):
        return
    connection = _connection_for(modeladmin, request)
    if connection is None:
        return
    outcomes = []
    for contact in queryset:
        try:
            outcomes.append(contact_push_update(connection=connection, contact=contact, actor=request.user))
        except PushError as error:  # not linked: nothing was sent
            outcomes.append(PushOutcome(contact.pk, "not_linked", message=str(error)))
    _push_report(modeladmin, request, outcomes)


for _action in (create_in_quickbooks, update_quickbooks):
    _action.allowed_permissions = (PUSH_PERMISSION,)

for _model, _field in QUICKBOOKS_ID_FIELDS.items():
    extensions.extend(_model, list_display=[quickbooks_column(_field)], history=[audit_history])
extensions.extend(Contact, actions=[create_in_quickbooks, update_quickbooks])

from . import duplicates  # noqa: E402, F401  (the duplicates pages: URLs and index links)
