"""The OAuth 2.0 connect/disconnect flow and the connection selectors (issue 4, RELIABILITY A1–A3, A9).

- `connect_start` makes a one-time `state` from `secrets` (intuitlib's default uses `random`, finding 1), binds it
  to the session with a 10-minute expiry, and builds a new `AuthClient` for this flow only (A2).
- `connect_complete` pops the state before anything else (single use), compares it in constant time, handles
  `error=access_denied`, refuses a second company, exchanges the code exactly once (no retry: the code is
  single-use, A3), refuses a token answer without tokens, proves that the realm named in the redirect URL answers
  for those tokens (the URL is not signed: a code issued for company A with `realmId=B` must not become B's
  connection), then stores the encrypted tokens and queues the initial sync on commit.
- `disconnect` revokes at Intuit, then clears the tokens even if the revoke failed (A9); the row stays as history.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

import requests
from cryptography.fernet import InvalidToken
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from .. import conf
from ..models import AuditEvent, QuickBooksAuth
from ..qbo.client import Sleeper, qbo_get, qbo_realm_probe
from ..qbo.errors import AuthenticationError, OAuthFlowError, QuickBooksError, TokenResponseError
from ..qbo.http import auth_client_build
from ..qbo.tokens import connection_mark_undecryptable, token_response_check, tokens_apply
from .audit import audit_record

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("quickbooks_integration.security")

SESSION_KEY = "quickbooks_oauth_state"
SCOPES = [Scopes.ACCOUNTING]


def connection_current() -> QuickBooksAuth | None:
    """The company this CRM is connected to (or was last), with token columns deferred: safe for pages."""
    active = QuickBooksAuth.objects.defer("access_token", "refresh_token")
    return (
        active.exclude(status=QuickBooksAuth.Status.DISCONNECTED).order_by("-updated_at").first()
        or active.order_by("-updated_at").first()
    )


def connection_needing_attention() -> QuickBooksAuth | None:
    """The connection the admin banner points at: one that needs reconnecting or cannot be decrypted."""
    return (
        QuickBooksAuth.objects.defer("access_token", "refresh_token")
        .filter(status__in=[QuickBooksAuth.Status.NEEDS_RECONNECT, QuickBooksAuth.Status.CANNOT_DECRYPT])
        .order_by("-updated_at")
        .first()
    )


@sensitive_variables("state")
def connect_start(*, session: MutableMapping, user) -> str:
    """Bind a fresh `state` to the session and return the authorization URL to redirect the user to."""
    state = secrets.token_urlsafe(32)
    try:
        auth_client = auth_client_build(state_token=state)  # GETs the discovery document unless cached
    except (AuthClientError, requests.RequestException) as exc:
        logger.warning("QuickBooks discovery document unavailable: %s", type(exc).__name__)
        raise OAuthFlowError(
            "QuickBooks' sign-in service did not answer. Try Connect again in a few minutes.", reason="exchange_down"
        ) from None
    session[SESSION_KEY] = {"state": state, "expires": time.time() + conf.state_max_age_seconds(), "user": user.pk}
    return auth_client.get_authorization_url(SCOPES, state_token=state)


def _state_check(*, session: MutableMapping, received: str | None, user) -> None:
    """Pop the session's state (single use) and compare it with the callback's, in constant time (A1)."""
    stored = session.pop(SESSION_KEY, None)
    if hasattr(session, "modified"):
        session.modified = True
    reason = ""
    if not stored or not isinstance(stored, dict) or not received:
        reason = "missing"
    elif not hmac.compare_digest(str(stored.get("state", "")).encode(), received.encode()):
        reason = "mismatch"
    elif float(stored.get("expires", 0)) < time.time():
        reason = "expired"
    elif stored.get("user") != user.pk:
        reason = "mismatch"
    if reason:
        security_logger.warning("QuickBooks OAuth callback rejected: state %s (user %s)", reason, user.pk)
        raise OAuthFlowError(
            "The QuickBooks authorization could not be verified (the request expired or did not start here). "
            "Start again with Connect.",
            reason=f"state_{reason}",
        )


@dataclass(frozen=True)
class ConnectResult:
    connection: QuickBooksAuth
    reconnected: bool
    message: str


@sensitive_variables()
def connect_complete(*, session: MutableMapping, params: Mapping[str, str], user) -> ConnectResult:
    """Finish the flow from the callback's query parameters; raises OAuthFlowError and stores nothing on failure."""
    _state_check(session=session, received=params.get("state"), user=user)
    if params.get("error"):
        outcome = "access_denied" if params.get("error") == "access_denied" else "error"
        audit_record(action="connect", actor=user, outcome=AuditEvent.Outcome.FAILURE, message=outcome)
        raise OAuthFlowError(
            "QuickBooks access was not granted, so nothing was connected."
            if outcome == "access_denied"
            else "QuickBooks reported an error during authorization; nothing was connected.",
            reason=outcome,
        )
    code = params.get("code")
    realm_id = params.get("realmId")
    if not code or not realm_id:
        raise OAuthFlowError("QuickBooks sent no authorization code; nothing was connected.", reason="no_code")
    other = (
        QuickBooksAuth.objects.exclude(company_id=realm_id)
        .exclude(status=QuickBooksAuth.Status.DISCONNECTED)
        .only("pk", "company_id", "company_name")
        .first()
    )
    if other is not None:
        audit_record(action="connect", actor=user, outcome=AuditEvent.Outcome.FAILURE, message="second company refused")
        raise OAuthFlowError(
            f"This CRM is already connected to {other.company_name or other.company_id}. "
            "Disconnect it before connecting another company.",
            reason="second_company",
        )
    auth_client = _code_exchange(code=code, realm_id=realm_id, user=user)
    company_name = _realm_prove(realm_id=realm_id, auth_client=auth_client, user=user)
    connection, reconnected, before = _connection_store(
        realm_id=realm_id, auth_client=auth_client, user=user, company_name=company_name
    )
    audit_record(
        action="reconnect" if reconnected else "connect",
        actor=user,
        obj=connection,
        before=before,
        after={"status": connection.status, "realm_id": realm_id},
    )
    from ..tasks import initial_sync_enqueue

    transaction.on_commit(lambda: initial_sync_enqueue(connection_id=connection.pk))
    return ConnectResult(
        connection=connection, reconnected=reconnected, message=f"Connected to {company_name or realm_id}."
    )


@sensitive_variables()
def _code_exchange(*, code: str, realm_id: str, user):
    """Exchange the code exactly once (it is single-use, A3); an answer without tokens stores nothing."""
    try:
        auth_client = auth_client_build()  # another web process may not have the discovery document cached
        auth_client.get_bearer_token(code, realm_id=realm_id)
        token_response_check(auth_client)
        return auth_client
    except AuthClientError as exc:
        logger.warning("QuickBooks code exchange failed: HTTP %s, intuit_tid %s", exc.status_code, exc.intuit_tid)
        audit_record(
            action="connect",
            actor=user,
            outcome=AuditEvent.Outcome.FAILURE,
            message=f"code exchange HTTP {exc.status_code}",
        )
        raise OAuthFlowError(
            "QuickBooks did not accept the authorization (it may have expired). Start again with Connect.",
            reason="exchange_failed",
        ) from None
    except (requests.Timeout, requests.ConnectionError):
        audit_record(action="connect", actor=user, outcome=AuditEvent.Outcome.FAILURE, message="token endpoint down")
        raise OAuthFlowError(
            "QuickBooks' sign-in service did not answer. Try Connect again in a few minutes.", reason="exchange_down"
        ) from None
    except (TokenResponseError, ValueError):  # ValueError: a 200 whose body is not JSON
        audit_record(action="connect", actor=user, outcome=AuditEvent.Outcome.FAILURE, message="token answer unusable")
        raise OAuthFlowError(
            "QuickBooks' sign-in service answered without tokens, so nothing was connected. Start again with Connect.",
            reason="bad_token_response",
        ) from None


@sensitive_variables()
def _realm_prove(*, realm_id: str, auth_client, user) -> str:
    """Read the realm's CompanyInfo with the new tokens before storing them; returns the company name.

    A refusal (3100, 401) means the code was not issued for that realm: revoke the new grant and store nothing.
    QBO not answering stores nothing either: a connection is marked connected only once its realm has answered.
    """
    try:
        info = qbo_realm_probe(realm_id=realm_id, access_token=auth_client.access_token)
    except AuthenticationError as exc:
        security_logger.warning("QuickBooks callback refused: realm %s does not answer for the new tokens", realm_id)
        audit_record(
            action="connect",
            actor=user,
            outcome=AuditEvent.Outcome.FAILURE,
            message=f"realm not proven (code {exc.code or exc.http_status})",
        )
        _grant_revoke(auth_client=auth_client, realm_id=realm_id)
        raise OAuthFlowError(
            "QuickBooks' answer does not match the company it named, so nothing was connected. "
            "Start again with Connect.",
            reason="realm_mismatch",
        ) from None
    except QuickBooksError as exc:
        audit_record(
            action="connect", actor=user, outcome=AuditEvent.Outcome.FAILURE, message=f"company read failed: {exc}"
        )
        _grant_revoke(auth_client=auth_client, realm_id=realm_id)
        raise OAuthFlowError(
            "QuickBooks did not answer for the company, so nothing was connected. Try Connect again in a few minutes.",
            reason="company_unreachable",
        ) from None
    return str(info.get("CompanyName") or "")


@sensitive_variables()
def _connection_store(*, realm_id: str, auth_client, user, company_name: str) -> tuple[QuickBooksAuth, bool, dict]:
    """Create or re-arm the realm's row with the new tokens, in one short transaction."""
    with transaction.atomic():
        existing = QuickBooksAuth.objects.select_for_update().defer("access_token", "refresh_token")
        connection = existing.filter(company_id=realm_id).first()
        reconnected = connection is not None
        before = {"status": connection.status} if connection else {}
        if connection is None:
            connection = QuickBooksAuth(company_id=realm_id)
        tokens_apply(connection=connection, auth_client=auth_client)
        connection.status = QuickBooksAuth.Status.CONNECTED
        connection.company_name = company_name or connection.company_name
        connection.last_error = ""
        connection.connected_by = user
        connection.connected_at = timezone.now()
        connection.disconnected_at = None
        connection.save()
    return connection, reconnected, before


@dataclass(frozen=True)
class DisconnectResult:
    connection: QuickBooksAuth
    revoked: bool
    message: str


@sensitive_variables()
def disconnect(*, connection_id: int, user) -> DisconnectResult:
    """Revoke the refresh token at Intuit, then clear the tokens locally even if the revoke failed (A9)."""
    refresh_token = None
    try:
        refresh_token = QuickBooksAuth.objects.get(pk=connection_id).refresh_token
    except InvalidToken:
        connection_mark_undecryptable(connection_id=connection_id)
    revoked = False
    if refresh_token:
        try:
            revoked = bool(auth_client_build().revoke(token=refresh_token))
        except (AuthClientError, requests.RequestException) as exc:
            logger.warning("QuickBooks revoke failed for connection %s: %s", connection_id, type(exc).__name__)
    with transaction.atomic():
        connection = (
            QuickBooksAuth.objects.select_for_update().defer("access_token", "refresh_token").get(pk=connection_id)
        )
        before = {"status": connection.status}
        connection.access_token = None
        connection.refresh_token = None
        connection.expires_at = None
        connection.refresh_expires_at = None
        connection.status = QuickBooksAuth.Status.DISCONNECTED
        connection.disconnected_at = timezone.now()
        connection.last_error = "" if revoked else "Disconnected locally; revoking at QuickBooks failed."
        connection.save()
    audit_record(
        action="disconnect",
        actor=user,
        obj=connection,
        before=before,
        after={"status": connection.status, "revoked": revoked},
        outcome=AuditEvent.Outcome.SUCCESS if revoked else AuditEvent.Outcome.WARNING,
        message="" if revoked else "revoke failed; tokens cleared locally",
    )
    message = (
        "Disconnected from QuickBooks."
        if revoked
        else "Disconnected locally, but QuickBooks did not confirm the revoke: remove the app in QuickBooks too."
    )
    return DisconnectResult(connection=connection, revoked=revoked, message=message)


@sensitive_variables()
def _grant_revoke(*, auth_client, realm_id: str) -> None:
    """Give back a grant this CRM will not store, so no live refresh token is left behind at Intuit."""
    try:
        auth_client_build().revoke(token=auth_client.refresh_token)
    except (AuthClientError, requests.RequestException):
        logger.warning("revoking the unused grant for realm %s failed", realm_id)


def connection_test(*, connection: QuickBooksAuth, sleeper: Sleeper | None = None) -> dict:
    """Read CompanyInfo to prove the connection works; keeps the company name current.

    Interactive: one attempt and a short limiter wait (a 401 still refreshes and retries once), because it runs
    inside a web request, where a 429's 60-second waits would outlast the server's timeout.
    """
    envelope = qbo_get(
        connection=connection, path=f"companyinfo/{connection.realm_id}", interactive=True, sleeper=sleeper
    )
    info = envelope["CompanyInfo"]
    name = str(info.get("CompanyName") or "")
    QuickBooksAuth.objects.filter(pk=connection.pk).update(company_name=name, last_error="", updated_at=timezone.now())
    connection.company_name = name
    return info
