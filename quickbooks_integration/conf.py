"""Lazy reads of the QUICKBOOKS_* settings, so `override_settings` works in tests (STYLE §11).

crm_project/settings.py reads the environment once; this module only reads `django.conf.settings` when asked,
and derives the few values every caller needs (the discovery URL, the API base, timeouts, limits).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

EMULATOR = "emulator"
SANDBOX = "sandbox"
PRODUCTION = "production"
ENVIRONMENTS = (EMULATOR, SANDBOX, PRODUCTION)

# The dev default key crm_project/settings.py uses with DEBUG on; checks.py refuses it with DEBUG off.
DEVELOPMENT_FERNET_KEY = "development-only-fernet-key-do-not-use-in-production"


def _get(name: str, default=None):
    return getattr(settings, name, default)


def environment() -> str:
    return str(_get("QUICKBOOKS_ENVIRONMENT", PRODUCTION)).lower()


def is_emulator() -> bool:
    return environment() == EMULATOR


def emulator_url() -> str:
    return str(_get("QUICKBOOKS_EMULATOR_URL", "http://127.0.0.1:8765")).rstrip("/")


def client_id() -> str:
    return str(_get("QUICKBOOKS_CLIENT_ID", ""))


def client_secret() -> str:
    return str(_get("QUICKBOOKS_CLIENT_SECRET", ""))


def redirect_uri() -> str:
    return str(_get("QUICKBOOKS_REDIRECT_URI", ""))


def verifier_token() -> str:
    return str(_get("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", ""))


def discovery_environment() -> str:
    """What intuitlib's AuthClient gets as `environment`: 'sandbox'/'production', or the emulator's discovery URL.

    API.md §1.7 option 1: any string other than sandbox/production is used as the discovery URL itself.
    """
    if is_emulator():
        return f"{emulator_url()}/.well-known/openid_sandbox_configuration/"
    return SANDBOX if environment() == SANDBOX else PRODUCTION


def emulator_api_base() -> str:
    """The `/v3` base python-quickbooks builds every URL from (`qb.api_url_v3`, API.md §2.1)."""
    return f"{emulator_url()}/v3"


def emulator_is_loopback() -> bool:
    """True when the emulator URL is plain http on a loopback host: the only case allowing insecure OAuth transport."""
    return is_loopback_host(urlsplit(emulator_url()).hostname or "")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def minorversion() -> int:
    return int(_get("QUICKBOOKS_MINORVERSION", 75))


def http_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every HTTP call of both libraries; QBO itself times requests out at 120 s."""
    return (float(_get("QUICKBOOKS_CONNECT_TIMEOUT", 5.0)), float(_get("QUICKBOOKS_READ_TIMEOUT", 60.0)))


def refresh_margin_seconds() -> int:
    """Refresh when fewer than this many seconds of access-token life are left (issue 4: 5 minutes)."""
    return int(_get("QUICKBOOKS_REFRESH_MARGIN_SECONDS", 300))


def rate_limit_per_minute() -> int:
    """QBO allows 500 requests/minute per realm (API.md §7)."""
    return int(_get("QUICKBOOKS_RATE_LIMIT_PER_MINUTE", 500))


def max_concurrent() -> int:
    """QBO allows 10 concurrent requests per realm and app (API.md §7)."""
    return int(_get("QUICKBOOKS_MAX_CONCURRENT", 10))


def max_attempts() -> int:
    """Attempts per call for retryable failures (429, 5xx, connection errors), the first included."""
    return int(_get("QUICKBOOKS_MAX_ATTEMPTS", 5))


def backoff_cap_seconds() -> float:
    return float(_get("QUICKBOOKS_BACKOFF_CAP_SECONDS", 120.0))


def retry_budget_seconds() -> float:
    """The most one call may sleep between its retries: below django-q's task timeout (300 s, Q_CLUSTER), so a
    throttled call fails with ThrottledError instead of having its worker killed mid-sleep."""
    return float(_get("QUICKBOOKS_RETRY_BUDGET_SECONDS", 180.0))


def throttle_wait_seconds() -> float:
    """Intuit: on 429 wait 60 seconds before retrying (API.md §7), unless Retry-After says otherwise."""
    return float(_get("QUICKBOOKS_THROTTLE_WAIT_SECONDS", 60.0))


def state_max_age_seconds() -> int:
    """The OAuth `state` lives 10 minutes (issue 4)."""
    return int(_get("QUICKBOOKS_STATE_MAX_AGE_SECONDS", 600))


def keepalive_min_age_hours() -> int:
    """The keep-alive task refreshes a connection whose last refresh is older than this."""
    return int(_get("QUICKBOOKS_KEEPALIVE_MIN_AGE_HOURS", 20))


def interactive_wait_seconds() -> float:
    """The most a call made inside a web request (Test connection, the callback) waits for the realm's limiter;
    a browser request must answer within seconds, so a saturated realm gets a clear message instead."""
    return float(_get("QUICKBOOKS_INTERACTIVE_WAIT_SECONDS", 5.0))


def run_lease_seconds() -> float:
    """How long a sync run's claim lasts without a heartbeat (every QBO call and every page renews it). Below
    django-q's `retry` (360 s), so a run whose worker was killed is reclaimable when the task is delivered again."""
    return float(_get("QUICKBOOKS_RUN_LEASE_SECONDS", 120.0))


def sync_after_connect() -> bool:
    """Whether the initial sync queues the customers and items imports (off in the test settings, where each test
    runs the syncs it needs)."""
    return bool(_get("QUICKBOOKS_SYNC_AFTER_CONNECT", True))
