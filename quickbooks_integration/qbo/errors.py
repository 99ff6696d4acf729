"""Typed QBO errors and the one closed table that classifies a QBO answer into them.

The one question the table answers: "given the HTTP status and body QBO sent, what kind of failure is this, and
may the caller retry?". Status comes first (a 429 carries an XML body, a 401 a lower-case `fault` envelope,
API.md §3.3, §7), the body's error code second. Every (status, code) lands on exactly one class; the last rows
are the explicit fallbacks. Modelled on dj-stripe's `_stripe_errors.py` (STYLE §7).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


class QuickBooksError(Exception):
    """Base of every error the integration raises; `retryable` says whether the transport may resend."""

    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        code: str = "",
        detail: str = "",
        element: str = "",
        http_status: int | None = None,
        intuit_tid: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message
        self.code = code
        self.detail = detail
        self.element = element
        self.http_status = http_status
        self.intuit_tid = intuit_tid
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message or self.__class__.__name__]
        if self.code:
            parts.append(f"code {self.code}")
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        if self.detail:
            parts.append(self.detail)
        return " | ".join(parts)


class StaleObjectError(QuickBooksError):
    """5010: the SyncToken we sent is older than QBO's; re-read and merge."""


class DuplicateNameError(QuickBooksError):
    """6240: another customer/vendor/employee already uses this name."""


class NotFoundError(QuickBooksError):
    """610: the object (or a referenced one) is deleted or inactive."""


class QuickBooksValidationError(QuickBooksError):
    """400 business or request validation (2xxx, 4001, 6xxx, 500 unsupported operation): fix the data, do not retry."""


class ThrottledError(QuickBooksError):
    """429 / 3001 ThrottleExceeded: wait (Retry-After, else 60 s) and retry."""

    retryable = True


class RealmBusyError(ThrottledError):
    """Our own limiter found the realm saturated for the whole wait budget: nothing was sent. Not retried by the
    transport, since the budget is spent; the caller records it and a later run tries again."""

    retryable = False


class TransientError(QuickBooksError):
    """5xx, SystemFault 10000, timeouts and connection errors: retry with backoff."""

    retryable = True


class TokenResponseError(TransientError):
    """The token endpoint answered 200 without usable tokens (an empty JSON object, or a body that is not JSON):
    the stored tokens are kept, and the refresh is retried with the same refresh token (Intuit's 24 h grace)."""


class AuthenticationError(QuickBooksError):
    """The token or the app is not accepted (3200, 3100, 100, 120, invalid_grant)."""


class TokenExpiredError(AuthenticationError):
    """401 / 3200: the access token expired or is malformed; refresh once and retry once."""


class RealmNotAuthorizedError(AuthenticationError):
    """403 / 3100: the token is not authorised for this realm (or a sandbox token against production)."""


class ReconnectRequiredError(AuthenticationError):
    """`invalid_grant` or a second 401 after a refresh: a person must run the OAuth flow again."""


class NotConnectedError(QuickBooksError):
    """There is no usable connection (never connected, disconnected, or needs reconnecting)."""


class TokenDecryptError(QuickBooksError):
    """The stored tokens cannot be decrypted with FERNET_KEYS: rotate the keys back or reconnect."""


class OAuthFlowError(QuickBooksError):
    """The OAuth callback cannot complete; `reason` is a short machine key for the error page."""

    def __init__(self, message: str = "", *, reason: str = "error", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


@dataclass(frozen=True)
class FaultInfo:
    """The first error of a QBO answer, whatever its envelope (JSON `Fault`, lower-case `fault`, or XML)."""

    code: str = ""
    message: str = ""
    detail: str = ""
    element: str = ""
    fault_type: str = ""


_XML_ERROR = re.compile(r"<Error[^>]*\bcode=\"(?P<code>[^\"]*)\"", re.IGNORECASE)
_XML_TAG = r"<{tag}>(?P<value>.*?)</{tag}>"
_XML_FAULT_TYPE = re.compile(r"<Fault[^>]*\btype=\"(?P<type>[^\"]*)\"", re.IGNORECASE)


def fault_parse(body: str) -> FaultInfo:
    """Read the first error of a JSON or XML fault body; an unreadable body gives an empty FaultInfo."""
    text = (body or "").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return FaultInfo()
        fault = data.get("Fault") or data.get("fault") or {}
        errors = fault.get("Error") or fault.get("error") or []
        if not errors:
            return FaultInfo(fault_type=str(fault.get("type") or ""))
        first = errors[0]
        return FaultInfo(
            code=str(first.get("code") or ""),
            message=str(first.get("Message") or first.get("message") or ""),
            detail=str(first.get("Detail") or first.get("detail") or ""),
            element=str(first.get("element") or ""),
            fault_type=str(fault.get("type") or ""),
        )
    if text.startswith("<"):
        code = _XML_ERROR.search(text)
        message = re.search(_XML_TAG.format(tag="Message"), text, re.DOTALL)
        detail = re.search(_XML_TAG.format(tag="Detail"), text, re.DOTALL)
        fault_type = _XML_FAULT_TYPE.search(text)
        return FaultInfo(
            code=code.group("code") if code else "",
            message=message.group("value") if message else "",
            detail=detail.group("value") if detail else "",
            fault_type=fault_type.group("type") if fault_type else "",
        )
    return FaultInfo()


def _code_int(code: str) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def classify(*, status: int, code: str = "", body: str = "") -> type[QuickBooksError]:
    """The closed classification table: HTTP status first, then the QBO error code (sample files per row)."""
    number = _code_int(code)
    throttle_text = "ThrottleExceeded" in (body or "")
    # --- by HTTP status ---
    if status == 429:  # fault_throttle_429.xml: XML body even for JSON requests
        return ThrottledError
    if status == 401:  # fault_auth_token_expired_401.json: lower-case envelope, 3200
        return TokenExpiredError
    if status == 403:
        if number == 3001 or throttle_text:  # fault_throttle_legacy_403.xml: pre-2016 throttling
            return ThrottledError
        return RealmNotAuthorizedError  # fault_authorization_3100_403.json
    if status in (500, 502, 503, 504):  # SystemFault 10000 / proxy errors: transient
        return TransientError
    # --- by QBO code (200 with a Fault, or 400) ---
    if number == 5010:  # fault_stale_object_batch_item.json
        return StaleObjectError
    if number == 6240:  # fault_duplicate_name_400.json
        return DuplicateNameError
    if number == 610:  # API.md §3.3 "Object Not Found"
        return NotFoundError
    if number == 3001:  # throttle delivered in a JSON fault
        return ThrottledError
    if number == 3200:  # expired token not delivered as 401
        return TokenExpiredError
    if number == 3100:
        return RealmNotAuthorizedError
    if number in (100, 120):  # General Authentication Error / Authorization Failure
        return AuthenticationError
    if number is not None and number >= 10000:  # SystemFault
        return TransientError
    if number is not None and (500 <= number <= 4999 or 6000 <= number <= 6999 or 600 <= number <= 1999):
        # fault_invalid_id_400.json (2030), fault_invalid_query_400.json (4001),
        # fault_unrecognized_property_400.json (2010), fault_unsupported_operation_400.json (500), 6000/6140/6190/6210
        return QuickBooksValidationError
    # --- explicit fallbacks ---
    if 400 <= status < 500:
        return QuickBooksValidationError
    if status >= 500:
        return TransientError
    return QuickBooksError


def error_from_response(*, status: int, body: str, headers: dict | None = None) -> QuickBooksError:
    """Build the typed error for one HTTP answer, keeping code, detail, `intuit_tid` and Retry-After."""
    headers = headers or {}
    info = fault_parse(body)
    cls = classify(status=status, code=info.code, body=body)
    retry_after = None
    raw_retry = headers.get("Retry-After") or headers.get("retry-after")
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    tid = headers.get("intuit_tid") or headers.get("Intuit-Tid") or headers.get("intuit-tid") or ""
    return cls(
        info.message or f"QuickBooks answered HTTP {status}",
        code=info.code,
        detail=info.detail,
        element=info.element,
        http_status=status,
        intuit_tid=tid,
        retry_after=retry_after,
    )
