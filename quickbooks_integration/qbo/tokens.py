"""Access-token freshness: load a connection's tokens, refresh under a row lock, persist the rotated refresh token.

The one place a DB transaction stays open across an HTTP call (STYLE §2 allows no other): the refresh holds
`select_for_update` on the connection row while it calls the token endpoint, so K workers that find an expired
token make exactly one refresh and the others, once the lock is theirs, see the new token and use it (A6). The
token call has a timeout (http.py), which bounds the lock. The rotated refresh token and the new access
token are saved in that same transaction, before anyone uses the new access token (A5).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta

import requests
from cryptography.fernet import InvalidToken
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from intuitlib.exceptions import AuthClientError

from .. import conf
from ..models import AuditEvent, QuickBooksAuth
from ..services.audit import audit_record
from .errors import (
    AuthenticationError,
    NotConnectedError,
    ReconnectRequiredError,
    TokenDecryptError,
    TokenResponseError,
    TransientError,
)
from .http import auth_client_build

logger = logging.getLogger(__name__)

REFRESH_ATTEMPTS = 3
UNDECRYPTABLE_MESSAGE = (
    "The stored tokens cannot be decrypted with FERNET_KEYS: restore the old key and rotate, or reconnect."
)
Sleeper = Callable[[float], None]


def connection_mark_undecryptable(*, connection_id: int) -> None:
    """Record that FERNET_KEYS cannot decrypt this row's tokens (RELIABILITY F2, fault 27), without loading them."""
    updated = QuickBooksAuth.objects.filter(pk=connection_id).exclude(status=QuickBooksAuth.Status.DISCONNECTED)
    if updated.update(
        status=QuickBooksAuth.Status.CANNOT_DECRYPT,
        last_error=UNDECRYPTABLE_MESSAGE,
    ):
        audit_record(
            action="tokens_undecryptable",
            obj=QuickBooksAuth.objects.only("pk").get(pk=connection_id),
            outcome=AuditEvent.Outcome.FAILURE,
            message="InvalidToken while reading the connection",
        )
        logger.error("QuickBooks connection %s: tokens cannot be decrypted", connection_id)


def connection_load(*, connection_id: int) -> QuickBooksAuth:
    """Load a connection with its tokens; a wrong key marks it "cannot decrypt" and raises TokenDecryptError."""
    try:
        return QuickBooksAuth.objects.get(pk=connection_id)
    except InvalidToken:
        connection_mark_undecryptable(connection_id=connection_id)
        raise TokenDecryptError("The QuickBooks tokens cannot be decrypted: rotate the keys or reconnect.") from None


def token_needs_refresh(connection: QuickBooksAuth) -> bool:
    """True when the access token is missing or has fewer than the margin's seconds (5 minutes) left."""
    if not connection.access_token or connection.expires_at is None:
        return True
    return connection.expires_at - timezone.now() < timedelta(seconds=conf.refresh_margin_seconds())


@sensitive_variables()
def tokens_apply(*, connection: QuickBooksAuth, auth_client) -> None:
    """Copy a token response from intuitlib's client onto the row (not saved): tokens and both expiry times."""
    now = timezone.now()
    connection.access_token = auth_client.access_token
    connection.refresh_token = auth_client.refresh_token
    connection.expires_at = now + timedelta(seconds=int(auth_client.expires_in or 3600))
    refresh_life = getattr(auth_client, "x_refresh_token_expires_in", None)
    connection.refresh_expires_at = now + timedelta(seconds=int(refresh_life)) if refresh_life else None
    connection.last_refreshed_at = now


@sensitive_variables()
def token_response_check(auth_client) -> None:
    """Refuse a token answer that left intuitlib's client without both tokens.

    intuitlib copies whatever JSON the endpoint sends onto the client, so a 200 with `{}` (or with null tokens)
    would otherwise be saved as a connection holding no tokens while its status still says connected.
    """
    for name in ("access_token", "refresh_token"):
        value = getattr(auth_client, name, None)
        if not isinstance(value, str) or not value.strip():
            raise TokenResponseError("QuickBooks' token endpoint answered without usable tokens.")


def _is_invalid_grant(exc: AuthClientError) -> bool:
    content = exc.content.decode("utf-8", "replace") if isinstance(exc.content, bytes) else str(exc.content or "")
    return exc.status_code == 400 and "invalid_grant" in content


@sensitive_variables()
def _refresh_call(*, refresh_token: str, sleeper: Sleeper) -> object:
    """POST the refresh; retry timeouts, connection errors and 5xx with the same stored token (24 h grace, A6)."""
    last: Exception | None = None
    for attempt in range(1, REFRESH_ATTEMPTS + 1):
        try:
            auth_client = auth_client_build()  # a cold worker GETs the discovery document first
            auth_client.refresh(refresh_token=refresh_token)
            token_response_check(auth_client)
            return auth_client
        except (requests.Timeout, requests.ConnectionError, TokenResponseError) as exc:
            last = exc
        except ValueError as exc:  # a 200 whose body is not JSON (requests' JSONDecodeError)
            last = exc
        except AuthClientError as exc:
            if exc.status_code < 500:
                raise
            last = exc
        if attempt < REFRESH_ATTEMPTS:
            sleeper(min(2.0 ** (attempt - 1), 8.0) * (0.5 + random.random() / 2))
    if isinstance(last, (TokenResponseError, ValueError)):
        raise TokenResponseError("QuickBooks' token endpoint answered without usable tokens; the stored ones are kept.")
    raise TransientError(f"token endpoint unavailable: {type(last).__name__}")


def _failure_record(*, connection: QuickBooksAuth, status: str | None, message: str) -> None:
    before = {"status": connection.status}
    if status:
        connection.status = status
    connection.last_error = message
    connection.save(update_fields=["status", "last_error", "updated_at"])
    audit_record(
        action="refresh_failed",
        obj=connection,
        before=before,
        after={"status": connection.status},
        outcome=AuditEvent.Outcome.FAILURE,
        message=message,
    )


@sensitive_variables()
def connection_refresh(
    *,
    connection_id: int,
    stale_access_token: str | None = None,
    force: bool = False,
    sleeper: Sleeper = time.sleep,
) -> QuickBooksAuth:
    """Return the connection with a fresh access token, refreshing at most once across all workers.

    Without `stale_access_token`, refreshes only when fewer than 5 minutes are left (or `force`). With it (after a
    401), refreshes only if the row still holds that token: another worker may have refreshed already. A 400
    `invalid_grant` marks the connection "needs reconnect", records why, and raises ReconnectRequiredError (A7).
    """
    failure: Exception | None = None
    try:
        with transaction.atomic():
            connection = QuickBooksAuth.objects.select_for_update().get(pk=connection_id)
            if connection.status == QuickBooksAuth.Status.NEEDS_RECONNECT:
                raise ReconnectRequiredError("The QuickBooks connection needs reconnecting.")
            if connection.status != QuickBooksAuth.Status.CONNECTED or not connection.refresh_token:
                raise NotConnectedError("QuickBooks is not connected.")
            if stale_access_token is not None:
                if connection.access_token != stale_access_token:
                    return connection
            elif not force and not token_needs_refresh(connection):
                return connection
            try:
                auth_client = _refresh_call(refresh_token=connection.refresh_token, sleeper=sleeper)
            except AuthClientError as exc:
                if _is_invalid_grant(exc):
                    _failure_record(
                        connection=connection,
                        status=QuickBooksAuth.Status.NEEDS_RECONNECT,
                        message=f"Refresh refused (invalid_grant), intuit_tid {exc.intuit_tid}: reconnect QuickBooks.",
                    )
                    failure = ReconnectRequiredError("QuickBooks refused the refresh token: reconnect.")
                else:
                    _failure_record(
                        connection=connection, status=None, message=f"Refresh failed: HTTP {exc.status_code}."
                    )
                    failure = AuthenticationError(f"token refresh failed with HTTP {exc.status_code}")
            except TransientError as exc:
                _failure_record(connection=connection, status=None, message=f"Refresh failed: {exc}")
                failure = exc
            else:
                tokens_apply(connection=connection, auth_client=auth_client)
                connection.last_error = ""
                connection.save()
                logger.info("QuickBooks connection %s: access token refreshed", connection.pk)
                return connection
    except InvalidToken:
        connection_mark_undecryptable(connection_id=connection_id)
        raise TokenDecryptError("The QuickBooks tokens cannot be decrypted: rotate the keys or reconnect.") from None
    raise failure
