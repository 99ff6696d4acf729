"""The "Create in QuickBooks" action on the CRM's product list, added through `crm.admin.extensions`.

One action, one service call (STYLE §9): `products_push` for the whole selection, so the products go in batches of
≤ 30 rather than one call each, which is why it is not built with `object_action` (that runs each object in its own
transaction, and no transaction may stay open across a QBO call). The permission is asked twice: by the registry
when it lists the action, and by the service when it runs. The service audits every request and answer itself.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.admin import extensions
from crm.admin.actions import action_permitted
from crm.models import Product

from ..models import QuickBooksAuth
from ..qbo.errors import QuickBooksError
from ..qbo.tokens import connection_load
from ..services.connection import connection_current
from ..services.products_push import PUSH_PERMISSION, PushResult, products_push
from .crm_extensions import audit_history

DONE = {"created": "created in QuickBooks", "linked": "linked to the QuickBooks item of the same name"}


def _summary(modeladmin: admin.ModelAdmin, result: PushResult, names: dict[int, str]) -> tuple[str, int]:
    """One message for the whole run, e.g. "2 products created in QuickBooks. 1 skipped: …", and its level."""
    parts = []
    for status, phrase in DONE.items():
        count = len(result.of(status))
        if count:
            parts.append(f"{count} {model_ngettext(modeladmin.opts, count)} {phrase}.")
    for status in ("skipped", "failed"):
        outcomes = result.of(status)
        if outcomes:
            details = "; ".join(f"{names.get(o.product_id, o.product_id)}: {o.message}" for o in outcomes)
            parts.append(f"{len(outcomes)} {status}: {details}.")
    succeeded = len(result.of("created")) + len(result.of("linked"))
    level = messages.SUCCESS
    if result.of("failed"):
        level = messages.WARNING if succeeded else messages.ERROR
    elif result.of("skipped"):
        level = messages.WARNING
    return " ".join(parts) or "No products selected.", level


@admin.action(description="Create selected products in QuickBooks", permissions=[PUSH_PERMISSION])
def create_in_quickbooks(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    if not action_permitted(modeladmin, request, [PUSH_PERMISSION]):
        modeladmin.message_user(request, "You may not create items in QuickBooks.", messages.ERROR)
        return
    current = connection_current()
    if current is None or current.status != QuickBooksAuth.Status.CONNECTED:
        modeladmin.message_user(request, "QuickBooks is not connected.", messages.ERROR)
        return
    products = list(queryset)
    try:
        result = products_push(
            connection=connection_load(connection_id=current.pk), products=products, actor=request.user
        )
    except (PermissionDenied, QuickBooksError) as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    message, level = _summary(modeladmin, result, {p.pk: str(p) for p in products})
    modeladmin.message_user(request, message, level)


extensions.extend(Product, actions=[create_in_quickbooks], history=[audit_history])
