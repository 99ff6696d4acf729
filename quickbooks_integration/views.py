"""Connect, callback, disconnect and test-connection views: thin callers of services/connection.py.

Connect, callback and disconnect are superuser-only (staff get 403); Test connection needs `manage_connection`.
Every view is `never_cache`, and the state-changing ones are POST + CSRF. The callback never renders while
`code`/`realmId` are in its URL: it always answers 302 to a page without them (A3), and its locals are marked
sensitive so a technical 500 report cannot show the code or tokens (F3).
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from .qbo.errors import NotConnectedError, OAuthFlowError, QuickBooksError
from .qbo.tokens import connection_load
from .services.connection import connect_complete, connect_start, connection_current, connection_test, disconnect

SECRET_PARAMS = ("code", "state")
REDACTED = "[REDACTED]"
ERROR_REASONS = {
    "state_missing": "The authorization could not be verified: it did not start from this browser session.",
    "state_mismatch": "The authorization could not be verified: it does not match the one started here.",
    "state_expired": "The authorization took longer than 10 minutes and expired.",
    "access_denied": "QuickBooks access was not granted, so nothing was connected.",
    "no_code": "QuickBooks sent no authorization code, so nothing was connected.",
    "exchange_failed": "QuickBooks did not accept the authorization (it may have expired or been used).",
    "exchange_down": "QuickBooks' sign-in service did not answer.",
    "second_company": "This CRM is already connected to another QuickBooks company. Disconnect it first.",
    "bad_token_response": "QuickBooks' sign-in service answered without tokens.",
    "realm_mismatch": "QuickBooks' answer does not match the company named in the redirect.",
    "company_unreachable": "QuickBooks did not answer for the company, so nothing was connected.",
    "error": "QuickBooks reported an error during authorization.",
}


def connection_page_url() -> str:
    return reverse("admin:quickbooks_integration_quickbooksauth_changelist")


def superuser_required(view):
    """Anonymous users go to the admin login; signed-in users who are not superusers get 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.path, reverse("admin:login"))  # never the query: it may hold a code
        if not request.user.is_superuser:
            raise PermissionDenied("Only a superuser may change the QuickBooks connection.")
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@require_POST
@superuser_required
def quickbooks_connect(request: HttpRequest) -> HttpResponse:
    """Start the OAuth flow: bind a one-time state to the session and redirect to Intuit's consent page."""
    try:
        return HttpResponseRedirect(connect_start(session=request.session, user=request.user))
    except OAuthFlowError as exc:
        return HttpResponseRedirect(f"{reverse('quickbooks:error')}?reason={exc.reason}")


def _query_take(request: HttpRequest) -> dict[str, str]:
    """Return the callback's parameters and scrub `code`/`state` from the request itself.

    Django's error reports print `request.GET`, the full URL and every frame's `request` repr, and do not hide
    GET parameters (RELIABILITY finding 10); after this, all of them show the redacted values.
    """
    params = request.GET.dict()
    redacted = QueryDict(mutable=True)
    for key, value in params.items():
        redacted[key] = REDACTED if key in SECRET_PARAMS else value
    request.GET = redacted
    request.META["QUERY_STRING"] = redacted.urlencode()
    return params


@sensitive_variables()
@sensitive_post_parameters()
@never_cache
@require_GET
@superuser_required
def quickbooks_callback(request: HttpRequest) -> HttpResponse:
    """Intuit's redirect target: verify state, exchange the code, store, queue the initial sync; always 302."""
    params = _query_take(request)
    try:
        result = connect_complete(session=request.session, params=params, user=request.user)
    except OAuthFlowError as exc:
        return HttpResponseRedirect(f"{reverse('quickbooks:error')}?reason={exc.reason}")
    messages.success(request, result.message + " The initial sync has been queued.")
    return HttpResponseRedirect(connection_page_url())


@never_cache
@require_GET
@superuser_required
def quickbooks_error(request: HttpRequest) -> HttpResponse:
    """The error page a failed callback lands on (no code in its URL); nothing was stored."""
    reason = request.GET.get("reason", "error")
    message = ERROR_REASONS.get(reason, ERROR_REASONS["error"])
    return render(
        request,
        "quickbooks/error.html",
        {"message": message, "reason": reason, "connection_url": connection_page_url()},
        status=400,
    )


@never_cache
@require_POST
@superuser_required
def quickbooks_disconnect(request: HttpRequest) -> HttpResponse:
    """Revoke at Intuit and clear the tokens (locally even if the revoke fails)."""
    connection = connection_current()
    if connection is None or connection.status == connection.Status.DISCONNECTED:
        messages.info(request, "QuickBooks is not connected.")
        return HttpResponseRedirect(connection_page_url())
    result = disconnect(connection_id=connection.pk, user=request.user)
    messages.add_message(request, messages.SUCCESS if result.revoked else messages.WARNING, result.message)
    return HttpResponseRedirect(connection_page_url())


def manage_connection_required(view):
    """`quickbooks_integration.manage_connection` (Bookkeeper, superusers); anonymous users go to the login."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.path, reverse("admin:login"))
        if not request.user.has_perm("quickbooks_integration.manage_connection"):
            raise PermissionDenied("You may not test the QuickBooks connection.")
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@require_POST
@manage_connection_required
def quickbooks_test_connection(request: HttpRequest) -> HttpResponse:
    """Read CompanyInfo through the client wrapper and report the outcome."""
    current = connection_current()
    try:
        if current is None:
            raise NotConnectedError("QuickBooks is not connected.")
        info = connection_test(connection=connection_load(connection_id=current.pk))
        messages.success(request, f"QuickBooks answered: {info.get('CompanyName', '')} is reachable.")
    except QuickBooksError as exc:
        messages.error(request, f"Test connection failed: {exc.message or exc}")
    return HttpResponseRedirect(connection_page_url())
