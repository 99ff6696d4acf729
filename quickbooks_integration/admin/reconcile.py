"""The admin page "Reconcile with QuickBooks": each figure the CRM and QuickBooks disagree on, for the bookkeeper.

The page shows `sales_reconcile` (services/reconcile.py), as `manage.py quickbooks_reconcile` prints it: by default
against the ledger's last copies (no QBO call), and against QuickBooks itself after "Check against QuickBooks now"
(a POST; one interactive read per 1000 invoices or customers). A QBO error (not connected, throttled, refused) is
an admin message over the ledger's figures, never a 500; its text is the typed error's, which carries no token.

Who may open it: `quickbooks_integration.view_quickbookssync`, the ledger's own view permission (Bookkeeper and
Owner, migration 0004; Staff lacks it), since the page is the ledger read against the CRM. It has no model, so its
URL joins the ledger's ModelAdmin and its link the admin index's app list, by wrapping that instance's `get_urls`
and the site's `get_app_list` once, as admin/duplicates.py does: no migration.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ..models import QuickBooksAuth, QuickBooksSync
from ..qbo.errors import NotConnectedError, QuickBooksError
from ..qbo.tokens import connection_load
from ..services.connection import connection_current
from ..services.reconcile import Difference, Reconciliation, sales_reconcile
from . import ledger as _ledger_admin  # noqa: F401  (QuickBooksSyncAdmin registered before its URLs grow)

PERMISSION = "quickbooks_integration.view_quickbookssync"
TITLE = "Reconcile with QuickBooks"
URL_NAME = "quickbooks_integration_reconcile"
ROUTE = "reconcile/"


def _money(value: str | Decimal) -> str:
    return f"{Decimal(value):,.2f}"


def _row(request: HttpRequest, difference: Difference) -> dict:
    """One table row: the CRM row linked to its change page (when the user may open it), both figures, the gap."""
    url = ""
    if difference.model and difference.pk is not None:
        app_label, model_name = difference.model.split(".")
        if request.user.has_perm(f"{app_label}.view_{model_name}"):
            url = reverse(f"admin:{app_label}_{model_name}_change", args=[difference.pk])
    amount = difference.amount
    return {
        "what": difference.what,
        "url": url,
        "figure": difference.figure,
        "crm": difference.crm if amount is None else _money(difference.crm),
        "qbo": difference.qbo if amount is None else _money(difference.qbo),
        "amount": "" if amount is None else f"{amount:+,.2f}",
    }


def _live(request: HttpRequest, connection: QuickBooksAuth) -> Reconciliation | None:
    """QuickBooks read now, or None with the reason as an error message (the page then shows the ledger's)."""
    try:
        if connection.status != QuickBooksAuth.Status.CONNECTED:
            raise NotConnectedError("QuickBooks is not connected.")
        loaded = connection_load(connection_id=connection.pk)  # the page's row has its tokens deferred
        return sales_reconcile(connection=loaded, live=True, interactive=True)
    except QuickBooksError as error:
        reason = str(error.message or error).rstrip(".")
        messages.error(request, f"QuickBooks could not be read now: {reason}. The figures below are the last sync's.")
        return None


def reconcile_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The differences, from the ledger on GET and from QuickBooks on POST; the POST answers with the page itself,
    since a live comparison is not stored anywhere a redirect could find it."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    connection = connection_current()
    result = None
    if connection is not None:
        if request.method == "POST":
            result = _live(request, connection)
        if result is None:
            result = sales_reconcile(connection=connection)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": TITLE,
        "opts": model_admin.opts,
        "connection": connection,
        "connected": connection is not None and connection.status == QuickBooksAuth.Status.CONNECTED,
        "connection_url": reverse("admin:quickbooks_integration_quickbooksauth_changelist"),
        "result": result,
        "rows": [_row(request, difference) for difference in result.differences] if result else [],
    }
    return TemplateResponse(request, "admin/quickbooks_integration/reconcile.html", context)


# ---------------------------------------------------------------------------------------------------- wiring


def _urls_add(site: admin.AdminSite) -> None:
    """The page at `<the ledger's admin URL>/reconcile/`, before the admin's catch-all object URL, once."""
    model_admin = site.get_model_admin(QuickBooksSync)
    current = model_admin.get_urls
    if getattr(current, "reconcile_route", False):
        return

    def get_urls():
        view = model_admin.admin_site.admin_view(lambda request: reconcile_view(model_admin, request))
        return [path(ROUTE, view, name=URL_NAME), *current()]

    get_urls.reconcile_route = True
    model_admin.get_urls = get_urls


def _app_list_link(site: admin.AdminSite) -> None:
    """ "Reconcile with QuickBooks" in the admin index and sidebar, under the integration, for those who may open it."""
    current = site.get_app_list
    if getattr(current, "reconcile_link", False):
        return

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict]:
        app_list = current(request, app_label)
        if not request.user.has_perm(PERMISSION):
            return app_list
        for app in app_list:
            if app["app_label"] == QuickBooksSync._meta.app_label:
                app["models"].append(
                    {
                        "model": None,
                        "name": TITLE,
                        "object_name": "Reconcile",
                        "perms": {"view": True},
                        "admin_url": reverse(f"admin:{URL_NAME}", current_app=site.name),
                        "add_url": None,
                        "view_only": True,
                    }
                )
                app["models"].sort(key=lambda model: model["name"])
        return app_list

    get_app_list.reconcile_link = True
    site.get_app_list = get_app_list


_urls_add(admin.site)
_app_list_link(admin.site)
