"""Two admin pages: "QuickBooks duplicate customers" (the bookkeeper) and "Duplicate contacts" (staff).

Customer pairs are shown side by side with the reasons, each with "Not a duplicate" (remembered, and undoable from
"Show dismissed"); the merge itself happens in QuickBooks. Contact pairs link to the CRM's merge page.

Neither page has a model of its own, so their URLs are added to existing ModelAdmins (the connection page's and the
CRM's contact admin) and their links to the admin index's app list, by wrapping those instances' `get_urls` and the
site's `get_app_list` once at admin autodiscovery: no model, migration or CRM import of the integration is needed
(DESIGN §1). Each view checks its own permission.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from crm.admin.contact_merge import merge_url
from crm.models import Contact

from ..models import QuickBooksAuth
from ..services.connection import connection_current
from ..services.duplicates import (
    CONTACTS,
    CUSTOMERS,
    MERGE_PERMISSION,
    REVIEW_PERMISSION,
    contact_duplicates_list,
    customer_duplicates_list,
    duplicate_dismiss,
)
from . import connection as _connection_admin  # noqa: F401  (QuickBooksAuthAdmin registered before its URLs grow)

PER_PAGE = 50
CUSTOMERS_VIEW_PERMISSIONS = (REVIEW_PERMISSION, "quickbooks_integration.view_matchcandidate")
CONTACTS_VIEW_PERMISSION = "crm.view_contact"
CUSTOMERS_URL = "quickbooks_integration_duplicate_customers"
CONTACTS_URL = "crm_contact_duplicates"


def _can_view_customers(user) -> bool:
    return any(user.has_perm(p) for p in CUSTOMERS_VIEW_PERMISSIONS)


def _dismiss_post(request: HttpRequest, *, kind: str, connection: QuickBooksAuth | None) -> None:
    a, b = request.POST.get("a", ""), request.POST.get("b", "")
    if kind == CONTACTS:
        a, b = int(a), int(b)
    restore = request.POST.get("restore") == "1"
    try:
        duplicate_dismiss(kind=kind, a=a, b=b, actor=request.user, connection=connection, restore=restore)
    except PermissionError as error:
        raise PermissionDenied from error
    word = "restored to the list" if restore else "dismissed as not a duplicate"
    messages.success(request, f"{a} and {b} {word}.")


def _page(request: HttpRequest, pairs: list) -> object:
    return Paginator(pairs, PER_PAGE).get_page(request.GET.get("p") or 1)


def duplicate_customers_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """QBO customers that look like one person, from the ledger (no QBO call): work through them in QuickBooks."""
    if not _can_view_customers(request.user):
        raise PermissionDenied
    connection = connection_current()
    if request.method == "POST":
        if connection is None:
            raise PermissionDenied
        _dismiss_post(request, kind=CUSTOMERS, connection=connection)
        return HttpResponseRedirect(request.get_full_path())
    show_dismissed = request.GET.get("dismissed") == "1"
    keys_only = request.GET.get("all") != "1"
    pairs = (
        customer_duplicates_list(connection=connection, dismissed=show_dismissed, keys_only=keys_only)
        if connection is not None
        else []
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "QuickBooks duplicate customers",
        "opts": model_admin.opts,
        "connection": connection,
        "page": _page(request, pairs),
        "count": len(pairs),
        "show_dismissed": show_dismissed,
        "keys_only": keys_only,
        "can_dismiss": request.user.has_perm(REVIEW_PERMISSION),
    }
    return TemplateResponse(request, "admin/quickbooks_integration/duplicate_customers.html", context)


def duplicate_contacts_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """CRM contacts sharing a phone or e-mail, each pair with a link to the merge page."""
    if not request.user.has_perm(CONTACTS_VIEW_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        _dismiss_post(request, kind=CONTACTS, connection=None)
        return HttpResponseRedirect(request.get_full_path())
    show_dismissed = request.GET.get("dismissed") == "1"
    keys_only = request.GET.get("all") != "1"
    pairs = contact_duplicates_list(dismissed=show_dismissed, keys_only=keys_only)
    can_merge = request.user.has_perm(MERGE_PERMISSION)
    page = _page(request, pairs)
    rows = [{"pair": pair, "merge_url": merge_url(pair.a.pk, pair.b.pk) if can_merge else ""} for pair in page]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Duplicate contacts",
        "opts": Contact._meta,
        "page": page,
        "rows": rows,
        "count": len(pairs),
        "show_dismissed": show_dismissed,
        "keys_only": keys_only,
        "can_dismiss": can_merge,
    }
    return TemplateResponse(request, "admin/quickbooks_integration/duplicate_contacts.html", context)


# ---------------------------------------------------------------------------------------------------- wiring


def _urls_add(model, name: str, route: str, view) -> None:
    """Put `view` at `<model's admin URL>/<route>` (before the admin's catch-all object URL), once."""
    model_admin = admin.site.get_model_admin(model)
    current = model_admin.get_urls
    if getattr(current, "duplicates_route", None) == route:
        return

    def get_urls():
        wrapped = model_admin.admin_site.admin_view(lambda request: view(model_admin, request))
        return [path(route, wrapped, name=name), *current()]

    get_urls.duplicates_route = route
    model_admin.get_urls = get_urls


def _app_list_links(site: admin.AdminSite) -> None:
    """The two pages in the admin index and sidebar, under their apps, for users who may open them."""
    current = site.get_app_list
    if getattr(current, "duplicates_links", False):
        return

    def get_app_list(request, app_label=None):
        app_list = current(request, app_label)
        links = {
            "quickbooks_integration": (
                _can_view_customers(request.user),
                "QuickBooks duplicate customers",
                "DuplicateCustomers",
                CUSTOMERS_URL,
            ),
            "crm": (
                request.user.has_perm(CONTACTS_VIEW_PERMISSION),
                "Duplicate contacts",
                "DuplicateContacts",
                CONTACTS_URL,
            ),
        }
        for app in app_list:
            allowed, name, object_name, url_name = links.get(app["app_label"], (False, "", "", ""))
            if allowed:
                app["models"].append(
                    {
                        "model": None,
                        "name": name,
                        "object_name": object_name,
                        "perms": {"view": True},
                        "admin_url": reverse(f"admin:{url_name}", current_app=site.name),
                        "add_url": None,
                        "view_only": True,
                    }
                )
                app["models"].sort(key=lambda model: model["name"])
        return app_list

    get_app_list.duplicates_links = True
    site.get_app_list = get_app_list


_urls_add(QuickBooksAuth, CUSTOMERS_URL, "duplicates/", duplicate_customers_view)
_urls_add(Contact, CONTACTS_URL, "duplicates/", duplicate_contacts_view)
_app_list_links(admin.site)
