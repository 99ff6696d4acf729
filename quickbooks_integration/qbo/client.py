"""The only way to call QBO: a fresh token, the per-realm limiter, retries with backoff, typed errors, counts.

Transport only (STYLE §3): functions take a connection and return plain dicts; mapping and database writes
belong to the callers. The only rows it writes are the connection's token state (tokens, expiry, auth status)
and the limiter's. Every call:

1. refreshes the access token first when fewer than 5 minutes are left (tokens.py, under a row lock);
2. waits for the realm's limiter (limiter.py: ≤ 500/min, ≤ 10 at once, across processes), through the same
   sleeper and within the same budget as the retries;
3. builds a new python-quickbooks client for the current token (STACK §2) with timeouts (http.py);
4. classifies any failure with errors.py, HTTP status first (a 429 has an XML body);
5. retries 429 (Retry-After, else ≥ 60 s), 502/503/504, timeouts and connection errors with exponential backoff,
   jitter and a cap, within a total wait budget below the task timeout; 500 is resubmitted once (Intuit:
   "Resubmit the request once"); the sleeper is injectable;
6. on 401/3200 refreshes once and retries once; a second 401 or `invalid_grant` → "needs reconnect" and stop.

Call these functions outside `transaction.atomic()`: no DB transaction may stay open across a QBO call
(STYLE §2), and the limiter's and the refresh's row locks would otherwise be held until the outer commit.

Creates and updates require a `request_id` (QBO replays the first answer for a repeated `requestid`), so a
retried write can never make a second object; reads and queries are safe to retry.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from tenacity import RetryCallState, Retrying, stop_after_attempt, stop_any

from .. import conf
from ..models import AuditEvent, QuickBooksAuth
from ..services.audit import audit_record
from .errors import (
    NotConnectedError,
    QuickBooksError,
    RealmNotAuthorizedError,
    ReconnectRequiredError,
    ThrottledError,
    TokenExpiredError,
    TransientError,
    error_from_response,
)
from .http import call_counts, quickbooks_build
from .limiter import RealmLimiter
from .tokens import connection_refresh, token_needs_refresh

logger = logging.getLogger(__name__)

Sleeper = Callable[[float], None]
PAGE_SIZE = 1000  # QBO's MAXRESULTS maximum (API.md §3.2)
_FROM = re.compile(r"\bfrom\s+(\w+)", re.IGNORECASE)


def _default_sleeper(seconds: float) -> None:
    time.sleep(seconds)


# ---------------------------------------------------------------- retry policy


def backoff_delay(*, attempt: int, error: QuickBooksError, base: float = 1.0) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential with equal jitter, capped; ≥ 60 s on a throttle."""
    cap = conf.backoff_cap_seconds()
    exponential = min(cap, base * 2.0 ** (attempt - 1))
    delay = exponential / 2.0 + random.uniform(0.0, exponential / 2.0)
    if isinstance(error, ThrottledError):
        floor = error.retry_after if error.retry_after is not None else conf.throttle_wait_seconds()
        delay = max(delay, floor) + random.uniform(0.0, min(5.0, floor / 10.0 + 0.001))
    return min(delay, max(cap, conf.throttle_wait_seconds() + 5.0))


def _should_retry(state: RetryCallState) -> bool:
    error = state.outcome.exception() if state.outcome else None
    if not isinstance(error, QuickBooksError) or not error.retryable:
        return False
    if isinstance(error, TransientError) and error.http_status == 500:
        return state.attempt_number < 2  # SystemFault: resubmit once (API.md §7)
    return True


def _over_budget(state: RetryCallState) -> bool:
    """Stop before a wait that would take this call's total backoff past the budget (tenacity computes the wait
    first, and counts requested waits in `idle_for`, so an injected sleeper sees the same decisions)."""
    return state.idle_for + state.upcoming_sleep > conf.retry_budget_seconds()


def _wait(state: RetryCallState) -> float:
    return backoff_delay(attempt=state.attempt_number, error=state.outcome.exception())


def _translate(exc: Exception, qb: QuickBooks | None) -> Exception:
    """Turn a library or transport exception into a typed error, by the HTTP status of the answer first."""
    if isinstance(exc, QuickBooksError):
        return exc
    if isinstance(exc, requests.Timeout):
        return TransientError(f"QBO call timed out ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError):
        return TransientError("QBO connection failed")
    if isinstance(exc, AuthClientError):  # the discovery GET made while building the client; never its body
        return error_from_response(status=exc.status_code, body="", headers={"intuit_tid": exc.intuit_tid or ""})
    response = getattr(getattr(qb, "session", None), "last_response", None)
    if response is not None:
        return error_from_response(status=response.status_code, body=response.text, headers=dict(response.headers))
    if isinstance(exc, QuickbooksException):
        return error_from_response(status=200, body=json.dumps({"Fault": {"Error": [{"code": str(exc.error_code)}]}}))
    return exc


# ---------------------------------------------------------------- the call


@sensitive_variables()  # the access token, and the libraries' frames below with their Authorization header (F3)
def _attempt(
    *, realm_id: str, access_token: str, operation: Callable[[QuickBooks], Any], sleep: Sleeper, max_wait: float
) -> Any:
    limiter = RealmLimiter(realm_id=realm_id, sleep=sleep, max_wait=max_wait)
    with limiter.slot():
        qb = None
        try:
            qb = quickbooks_build(realm_id=realm_id, access_token=access_token)
            return operation(qb)
        except Exception as exc:
            translated = _translate(exc, qb)
            if translated is exc:
                raise
            raise translated from None


def _ensure_usable(connection: QuickBooksAuth) -> None:
    if connection.status == QuickBooksAuth.Status.NEEDS_RECONNECT:
        raise ReconnectRequiredError("The QuickBooks connection needs reconnecting.")
    if connection.status != QuickBooksAuth.Status.CONNECTED or not connection.access_token:
        raise NotConnectedError("QuickBooks is not connected.")


def _adopt(connection: QuickBooksAuth, fresh: QuickBooksAuth) -> None:
    """Copy a refreshed row's token state onto the caller's instance, so the caller keeps using it."""
    for name in ("access_token", "refresh_token", "expires_at", "refresh_expires_at", "last_refreshed_at", "status"):
        setattr(connection, name, getattr(fresh, name))


def _second_401(connection: QuickBooksAuth, error: TokenExpiredError) -> ReconnectRequiredError:
    """A 401 right after a refresh: the grant itself is gone (revoked at Intuit), so a person must reconnect (A8)."""
    QuickBooksAuth.objects.filter(pk=connection.pk).update(
        status=QuickBooksAuth.Status.NEEDS_RECONNECT,
        last_error=f"QBO refused a freshly refreshed token (code {error.code or 401}): reconnect QuickBooks.",
    )
    connection.status = QuickBooksAuth.Status.NEEDS_RECONNECT
    audit_record(
        action="refresh_failed",
        obj=connection,
        after={"status": connection.status},
        outcome=AuditEvent.Outcome.FAILURE,
        message="401 after a refresh",
    )
    return ReconnectRequiredError("QBO refused the refreshed token: reconnect QuickBooks.")


@sensitive_variables()  # `access_token`, and tenacity's frames below that carry it in their kwargs (F3)
def qbo_call(
    *,
    connection: QuickBooksAuth,
    operation: Callable[[QuickBooks], Any],
    idempotent: bool = True,
    interactive: bool = False,
    sleeper: Sleeper | None = None,
) -> Any:
    """Run `operation(qb)` against QBO with a fresh token, the limiter, retries and typed errors.

    `idempotent=False` disables automatic resending (a create without a `requestid` must never be retried, C8).
    `interactive=True` is for calls inside a web request: one attempt, and at most a few seconds' wait for the
    limiter, so a throttled or saturated realm answers with a clear error instead of a hung page.
    The caller's `connection` instance is updated in place when the token is refreshed.
    """
    sleep = sleeper or _default_sleeper
    single = interactive or not idempotent
    limiter_wait = conf.interactive_wait_seconds() if interactive else conf.retry_budget_seconds()
    _ensure_usable(connection)
    if token_needs_refresh(connection):
        _adopt(connection, connection_refresh(connection_id=connection.pk, sleeper=sleep))
    for auth_attempt in (1, 2):
        access_token = connection.access_token
        try:
            retrying = Retrying(
                stop=stop_any(stop_after_attempt(1 if single else conf.max_attempts()), _over_budget),
                wait=_wait,
                retry=_should_retry,
                sleep=sleep,
                reraise=True,
            )
            return retrying(
                _attempt,
                realm_id=connection.realm_id,
                access_token=access_token,
                operation=operation,
                sleep=sleep,
                max_wait=limiter_wait,
            )
        except TokenExpiredError as exc:
            if auth_attempt == 2:
                raise _second_401(connection, exc) from None
            fresh = connection_refresh(connection_id=connection.pk, stale_access_token=access_token, sleeper=sleep)
            _adopt(connection, fresh)
        except RealmNotAuthorizedError as exc:
            QuickBooksAuth.objects.filter(pk=connection.pk).update(
                last_error=f"QBO says this app is not authorised for realm {connection.realm_id} (3100)."
            )
            raise exc
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- small public functions


def _api_path(qb: QuickBooks, path: str) -> str:
    return f"{qb.api_url}/company/{qb.company_id}/{path.lstrip('/')}"


def qbo_get(
    *,
    connection: QuickBooksAuth,
    path: str,
    params: dict | None = None,
    interactive: bool = False,
    sleeper: Sleeper | None = None,
) -> dict:
    """GET `/v3/company/{realm}/{path}` and return the JSON envelope (Decimal amounts)."""
    return qbo_call(
        connection=connection,
        operation=lambda qb: qb.get(_api_path(qb, path), params=dict(params or {})),
        interactive=interactive,
        sleeper=sleeper,
    )


def qbo_read(*, connection: QuickBooksAuth, entity: str, entity_id: str, sleeper: Sleeper | None = None) -> dict:
    """Read one entity (`Customer`, `Item`, …) by QBO Id; returns the entity dict."""
    envelope = qbo_get(connection=connection, path=f"{entity.lower()}/{entity_id}", sleeper=sleeper)
    return envelope[entity]


def qbo_read_company_info(*, connection: QuickBooksAuth, sleeper: Sleeper | None = None) -> dict:
    """Read CompanyInfo (`GET companyinfo/{realm}`, API.md §2.3); returns the CompanyInfo dict."""
    return qbo_read(connection=connection, entity="CompanyInfo", entity_id=connection.realm_id, sleeper=sleeper)


def _query_rows(envelope: dict) -> list[dict]:
    response = envelope.get("QueryResponse") or {}
    for value in response.values():
        if isinstance(value, list):
            return value
    return []


def qbo_query(
    *,
    connection: QuickBooksAuth,
    sql: str,
    page_size: int = PAGE_SIZE,
    interactive: bool = False,
    sleeper: Sleeper | None = None,
) -> Iterator[dict]:
    """Yield every row of a `SELECT * FROM …` statement, paging with STARTPOSITION (1-based) by ≤ 1000.

    `sql` must not carry STARTPOSITION/MAXRESULTS; give an ORDERBY (e.g. `ORDERBY Id`) for a stable order.
    An empty answer is `{"QueryResponse": {}}` (API.md §3.2). `interactive` as in `qbo_call`, for every page.
    """
    size = max(1, min(page_size, PAGE_SIZE))
    start = 1
    while True:
        statement = f"{sql.strip()} STARTPOSITION {start} MAXRESULTS {size}"
        envelope = qbo_call(
            connection=connection,
            operation=lambda qb, s=statement: qb.query(s),
            interactive=interactive,
            sleeper=sleeper,
        )
        rows = _query_rows(envelope)
        yield from rows
        if len(rows) < size:
            return
        start += len(rows)


def qbo_count(*, connection: QuickBooksAuth, entity: str, where: str = "", sleeper: Sleeper | None = None) -> int:
    """`SELECT COUNT(*) FROM entity [WHERE …]` → `QueryResponse.totalCount` (0 when absent).

    This is QBO's query language sent to QBO, not SQL on our database; `where` is the caller's, who must escape
    quoted values as `\\'` (API.md §3.2). The entity must be a bare name.
    """
    if not re.fullmatch(r"[A-Za-z]+", entity):
        raise ValueError(f"not a QBO entity name: {entity!r}")
    # bandit B608 reviewed: QBO's query language sent to QBO (not SQL), the entity checked to be a bare name above
    statement = f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")  # noqa: S608  # nosec B608
    envelope = qbo_call(connection=connection, operation=lambda qb: qb.query(statement), sleeper=sleeper)
    return int((envelope.get("QueryResponse") or {}).get("totalCount") or 0)


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


def _write(
    *, connection: QuickBooksAuth, entity: str, payload: dict, request_id: str, params: dict | None, sleeper
) -> dict:
    if not request_id or len(request_id) > 50:
        raise ValueError("request_id is required (≤ 50 chars): QBO replays the first answer for a repeated requestid")
    body = json.dumps(payload, cls=_DecimalEncoder)
    envelope = qbo_call(
        connection=connection,
        operation=lambda qb: qb.create_object(entity, body, request_id=request_id, params=dict(params or {})),
        sleeper=sleeper,
    )
    return envelope[entity]


def qbo_create(
    *, connection: QuickBooksAuth, entity: str, payload: dict, request_id: str, sleeper: Sleeper | None = None
) -> dict:
    """POST a new entity; `request_id` (a UUID stored before the first attempt) makes retries safe."""
    return _write(
        connection=connection, entity=entity, payload=payload, request_id=request_id, params=None, sleeper=sleeper
    )


def qbo_update(
    *, connection: QuickBooksAuth, entity: str, payload: dict, request_id: str, sleeper: Sleeper | None = None
) -> dict:
    """POST an update (`Id` + `SyncToken` in the payload; add `"sparse": True` for a sparse one)."""
    if "Id" not in payload or "SyncToken" not in payload:
        raise ValueError("an update needs Id and SyncToken")
    return _write(
        connection=connection, entity=entity, payload=payload, request_id=request_id, params=None, sleeper=sleeper
    )


BATCH_MAX_ITEMS = 30  # QBO's batch limit; python-quickbooks chunks by 30 too (API.md §6)


def qbo_batch(
    *, connection: QuickBooksAuth, items: list[dict], request_id: str, sleeper: Sleeper | None = None
) -> list[dict]:
    """POST one batch of ≤ 30 items (`{"bId", "operation", "<Entity>": {...}}` or `{"bId", "Query"}`).

    Returns `BatchItemResponse`: one dict per item, each either the entity or a `Fault` (a 200 may carry per-item
    faults, API.md §6). `request_id` must be ≤ 36 characters for batch (API.md §3.4).
    """
    if not 0 < len(items) <= BATCH_MAX_ITEMS:
        raise ValueError(f"a batch holds 1 to {BATCH_MAX_ITEMS} items")
    if not request_id or len(request_id) > 36:
        raise ValueError("request_id is required (≤ 36 chars for batch)")
    body = json.dumps({"BatchItemRequest": items}, cls=_DecimalEncoder)
    envelope = qbo_call(
        connection=connection,
        operation=lambda qb: qb.post(_api_path(qb, "batch"), body, request_id=request_id),
        sleeper=sleeper,
    )
    return list(envelope.get("BatchItemResponse") or [])


def qbo_cdc(
    *, connection: QuickBooksAuth, entities: list[str], changed_since: str, sleeper: Sleeper | None = None
) -> dict[str, list[dict]]:
    """Change Data Capture since `changed_since` (ISO datetime, ≤ 30 days back): {entity: [rows]} (API.md §5).

    Deleted rows come back with `status: "Deleted"` and only `Id`/`MetaData`; entities without changes are absent.
    """
    envelope = qbo_call(
        connection=connection,
        operation=lambda qb: qb.change_data_capture(",".join(entities), changed_since),
        sleeper=sleeper,
    )
    changes: dict[str, list[dict]] = {}
    for block in envelope.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            for key, value in response.items():
                if isinstance(value, list):
                    changes.setdefault(key, []).extend(value)
    return changes


def qbo_call_counts(*, connection: QuickBooksAuth | None = None) -> dict[str, int]:
    """HTTP calls made by this process: all of them, or one connection's realm (`api`) plus OAuth calls."""
    counts = call_counts()
    if connection is None:
        return counts
    return {"api": counts.get(f"api:{connection.realm_id}", 0), "oauth": counts.get("oauth", 0)}


@sensitive_variables()
def qbo_realm_probe(*, realm_id: str, access_token: str) -> dict:
    """Read CompanyInfo of `realm_id` with a token not yet stored: one attempt, no refresh, no retry.

    The OAuth callback calls it before saving a connection, because `realmId` arrives in the redirect URL and a
    code issued for one company must never be stored as another's connection.
    """

    def read(qb: QuickBooks) -> dict:
        return qb.get(_api_path(qb, f"companyinfo/{realm_id}"), params={})

    envelope = _attempt(
        realm_id=realm_id,
        access_token=access_token,
        operation=read,
        sleep=_default_sleeper,
        max_wait=conf.interactive_wait_seconds(),
    )
    return envelope["CompanyInfo"]


# ---------------------------------------------------------------- sales forms: send and PDF (issue 11)


def qbo_send(
    *,
    connection: QuickBooksAuth,
    entity: str,
    entity_id: str,
    send_to: str,
    request_id: str,
    sleeper: Sleeper | None = None,
) -> dict:
    """POST `{entity}/{id}/send?sendTo=` (Invoice, Estimate): QBO e-mails the form and answers with it, with
    `EmailStatus: "EmailSent"` and `DeliveryInfo.DeliveryTime` set (API.md §3.1). The `request_id` makes a resend
    after a lost answer a replay instead of a second e-mail."""
    if not request_id or len(request_id) > 50:
        raise ValueError("request_id is required (≤ 50 chars): a resent send must not e-mail the customer twice")
    params = {"sendTo": send_to} if send_to else {}
    envelope = qbo_call(
        connection=connection,
        operation=lambda qb: qb.post(
            _api_path(qb, f"{entity.lower()}/{entity_id}/send"),
            "",
            content_type="application/octet-stream",
            params=dict(params),
            request_id=request_id,
        ),
        sleeper=sleeper,
    )
    return envelope[entity]


def qbo_pdf(
    *,
    connection: QuickBooksAuth,
    entity: str,
    entity_id: str,
    interactive: bool = False,
    sleeper: Sleeper | None = None,
) -> bytes:
    """GET `{entity}/{id}/pdf` (Invoice, Estimate) and return the PDF's bytes; QBO renders it (API.md §2.3)."""
    return qbo_call(
        connection=connection,
        operation=lambda qb: qb.download_pdf(entity, entity_id),
        interactive=interactive,
        sleeper=sleeper,
    )
