"""QuickBooks actions on the CRM's quote and invoice admins, and what their change pages show of QuickBooks.

Registered through the CRM's extension point (`crm.admin.extensions`), so the CRM imports nothing of this:

- quotes: `create_quickbooks_estimate` (create or update), `convert_to_invoice` (QBO invoice linked to the estimate,
  CRM invoice linked to the quote), `send_invoice` (the quote's invoices, e-mailed from QBO);
- invoices: `send_invoice`, and on the change page a link that downloads the invoice's PDF from QBO;
- the quote's change page: its estimate in QBO, with a warning while QBO's total differs from the CRM's.

Each action is a thin caller of one service (services/estimates.py, services/invoices.py), which re-checks the
permission (`crm.push_estimate`, `crm.send_invoice`) and audits every outcome on the record's history.

Why these actions do not use `crm.admin.actions.object_action`, the CRM's runner: it runs each object inside
`transaction.atomic()`, and a QBO call must never run inside a transaction (STYLE §2: the token refresh and the
limiter commit their own rows, and a rollback would lose a rotated refresh token); and estimates go 30 to one batch
call, not one call per quote. They keep the runner's contract otherwise: the permission is asked again when the
action runs (`action_permitted`), one object's failure never stops the others and is listed by name, and one
pluralised summary reports the outcome. A selection larger than fits a web request (one batch of estimates, ten
conversions or sends) is queued for a worker instead (STYLE §9: "queued N").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from crm.admin import extensions
from crm.admin.actions import action_permitted
from crm.models import Invoice, Quote

from ..models import AuditEvent, SyncFailure
from ..qbo.client import BATCH_MAX_ITEMS
from ..qbo.errors import QuickBooksError
from ..qbo.numbers import qbo_money
from ..services.audit import audit_record
from ..services.connection import connection_current
from ..services.estimates import (
    ESTIMATE,
    PUSH_PERMISSION,
    SalesPushError,
    estimates_push,
    estimates_push_enqueue,
    total_key,
)
from ..services.invoices import (
    SEND_PERMISSION,
    invoice_send,
    invoices_send_enqueue,
    quote_convert,
    quote_invoices_send,
    quotes_convert_enqueue,
)
from ..services.mirror import mirror_get

INLINE_DOCUMENTS = 10  # conversions or sends run in the request; each is two or three QBO calls
UNLINKED = "—"

AdminAction = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]


def _action(*, description: str, permissions: Sequence[str]) -> Callable[[AdminAction], AdminAction]:
    def decorate(func: AdminAction) -> AdminAction:
        func.allowed_permissions = tuple(permissions)
        func.short_description = description
        return func

    return decorate


def _allowed(modeladmin: admin.ModelAdmin, request: HttpRequest, func: AdminAction, queryset: QuerySet) -> bool:
    """The permission again at run time (the list of actions was built earlier; the service asks a third time). A
    refusal changes nothing, says so, and leaves an audit line per object (RELIABILITY E2)."""
    if action_permitted(modeladmin, request, func.allowed_permissions):
        return True
    for obj in queryset:
        audit_record(
            action=func.__name__, actor=request.user, obj=obj, outcome=AuditEvent.Outcome.FAILURE, message="denied"
        )
    description = func.short_description
    modeladmin.message_user(request, f"You may not {description[0].lower()}{description[1:]}.", messages.ERROR)
    return False


def _report(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    done: str,
    succeeded: list[str],
    warnings: list[str],
    failures: list[str],
    tally: str = "",
) -> None:
    """One message: "2 quotes sent … (1 created, 1 unchanged). 1 to check: …. 1 failed: Q-000004: …"."""
    opts = modeladmin.opts
    parts = []
    if succeeded:
        parts.append(f"{len(succeeded)} {model_ngettext(opts, len(succeeded))} {done}{tally}.")
    if warnings:
        parts.append(f"{len(warnings)} to check: " + "; ".join(warnings) + ".")
    if failures:
        parts.append(f"{len(failures)} failed: " + "; ".join(failures) + ".")
    level = messages.ERROR if not succeeded else messages.WARNING if failures or warnings else messages.SUCCESS
    modeladmin.message_user(request, " ".join(parts) or f"No {opts.verbose_name_plural} selected.", level)


def _tally(outcomes: list[str]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return " (" + ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) + ")" if counts else ""


def _queued(modeladmin: admin.ModelAdmin, request: HttpRequest, count: int, what: str) -> None:
    modeladmin.message_user(
        request,
        f"Queued {count} {model_ngettext(modeladmin.opts, count)} {what}; failures will be listed under "
        "QuickBooks › Sync failures.",
        messages.INFO,
    )


@_action(description="Create or update QuickBooks estimates", permissions=[PUSH_PERMISSION])
def create_quickbooks_estimate(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    if not _allowed(modeladmin, request, create_quickbooks_estimate, queryset):
        return
    ids = list(queryset.values_list("pk", flat=True))
    if len(ids) > BATCH_MAX_ITEMS:
        _queued(modeladmin, request, estimates_push_enqueue(quote_ids=ids, actor=request.user), "for QuickBooks")
        return
    try:
        results = estimates_push(quotes=queryset, actor=request.user)
    except (SalesPushError, QuickBooksError) as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    _report(
        modeladmin,
        request,
        done="sent to QuickBooks as estimates",
        succeeded=[str(r.quote) for r in results if r.ok],
        warnings=[f"{r.quote}: {r.message}" for r in results if r.ok and r.message],
        failures=[f"{r.quote}: {r.message}" for r in results if not r.ok],
        tally=_tally([r.outcome for r in results if r.ok]),
    )


@_action(description="Convert to QuickBooks invoices", permissions=[PUSH_PERMISSION])
def convert_to_invoice(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    if not _allowed(modeladmin, request, convert_to_invoice, queryset):
        return
    quotes = list(queryset.order_by("pk"))
    if len(quotes) > INLINE_DOCUMENTS:
        count = quotes_convert_enqueue(quote_ids=[quote.pk for quote in quotes], actor=request.user)
        _queued(modeladmin, request, count, "for conversion")
        return
    succeeded, warnings, failures, outcomes = [], [], [], []
    for quote in quotes:
        try:
            result = quote_convert(quote=quote, actor=request.user)
        except (SalesPushError, QuickBooksError) as exc:
            failures.append(f"{quote}: {exc}")
            continue
        if not result.ok:
            failures.append(f"{quote}: {result.message}")
            continue
        succeeded.append(str(quote))
        outcomes.append(result.outcome)
        if result.total_differs:
            warnings.append(f"{quote}: {result.message}")
    _report(
        modeladmin,
        request,
        done="converted to QuickBooks invoices",
        succeeded=succeeded,
        warnings=warnings,
        failures=failures,
        tally=_tally(outcomes),
    )


@_action(description="Send invoices from QuickBooks", permissions=[SEND_PERMISSION])
def send_invoice(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """On quotes: their invoices; on invoices: the selected ones. Each goes to its contact's e-mail address."""
    if not _allowed(modeladmin, request, send_invoice, queryset):
        return
    objects = list(queryset.order_by("pk"))
    if len(objects) > INLINE_DOCUMENTS:
        invoice_ids = (
            [obj.pk for obj in objects]
            if modeladmin.model is Invoice
            else list(Invoice.objects.filter(quote__in=objects).values_list("pk", flat=True))
        )
        _queued(modeladmin, request, invoices_send_enqueue(invoice_ids=invoice_ids, actor=request.user), "to send")
        return
    succeeded, warnings, failures, outcomes = [], [], [], []
    for obj in objects:
        try:
            if modeladmin.model is Invoice:
                results = [invoice_send(invoice=obj, actor=request.user)]
            else:
                results = quote_invoices_send(quote=obj, actor=request.user)
        except (SalesPushError, QuickBooksError) as exc:
            failures.append(f"{obj}: {exc}")
            continue
        bad = [f"{result.invoice}: {result.message}" for result in results if not result.ok]
        if bad:
            failures.append(f"{obj}: " + ", ".join(bad))
            continue
        succeeded.append(str(obj))
        outcomes.extend(result.outcome for result in results)
    _report(
        modeladmin,
        request,
        done="sent from QuickBooks",
        succeeded=succeeded,
        warnings=warnings,
        failures=failures,
        tally=_tally(outcomes),
    )


# ---------------------------------------------------------------------------------------------------- change pages


@admin.display(description="QuickBooks PDF")
def quickbooks_pdf_link(obj: Invoice) -> str:
    """A link that streams the invoice's PDF from QuickBooks (sales_views.invoice_pdf)."""
    if obj is None or obj.pk is None or not obj.quickbooks_invoice_id:
        return UNLINKED
    url = reverse("quickbooks:invoice_pdf", args=[obj.pk])
    return format_html('<a href="{}">Download the PDF from QuickBooks</a>', url)


@admin.display(description="QuickBooks estimate")
def quickbooks_estimate_summary(obj: Quote) -> str:
    """The estimate's id, QBO's total as last seen, and a warning while it differs from the CRM's (two queries,
    on the change page only)."""
    if obj is None or obj.pk is None or not obj.quickbooks_estimate_id:
        return UNLINKED
    text = f"Estimate {obj.quickbooks_estimate_id}"
    connection = connection_current()
    entry = (
        mirror_get(connection=connection, entity_type=ESTIMATE, entity_id=obj.quickbooks_estimate_id)
        if connection is not None
        else None
    )
    if entry is not None and entry.payload.get("TotalAmt") is not None:
        text += f", total in QuickBooks {qbo_money(entry.payload['TotalAmt'])}"
    mismatch = SyncFailure.objects.filter(key=total_key(obj), resolved_at__isnull=True).first()
    if mismatch is None:
        return text
    return format_html('{} <strong class="errornote">⚠ {}</strong>', text, mismatch.message)


extensions.extend(
    Quote,
    actions=[create_quickbooks_estimate, convert_to_invoice, send_invoice],
    readonly_fields=[quickbooks_estimate_summary],
)
extensions.extend(Invoice, actions=[send_invoice], readonly_fields=[quickbooks_pdf_link])
