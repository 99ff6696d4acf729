"""Builds the two libraries' HTTP clients: default timeouts, call counts, and the emulator/sandbox/production base.

Neither intuitlib nor python-quickbooks passes a timeout (RELIABILITY finding 2), so both get a `requests`
session subclass whose `request` sets one by default. The emulator is reached through the libraries' documented
knobs only: intuitlib's `environment` as the discovery URL (API.md §1.7 option 1) and python-quickbooks'
`api_url_v3` instance attribute (API.md §2.1); `OAUTHLIB_INSECURE_TRANSPORT=1` is set only for a loopback
`http://` emulator. Only this module, `client.py`, `tokens.py` and `connection.py` import the libraries.

The discovery document is cached per process for an hour: Intuit publishes it as a static file, and without the
cache every `AuthClient` (one per flow, refresh and revoke: A2) would cost a GET.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from django.views.decorators.debug import sensitive_variables
from intuitlib.client import AuthClient
from intuitlib.config import DISCOVERY_URL
from quickbooks import QuickBooks
from requests_oauthlib import OAuth2Session

from .. import conf

DISCOVERY_TTL_SECONDS = 3600.0

_counts: Counter = Counter()
_counts_lock = threading.Lock()
_discovery_cache: dict[str, tuple[float, object]] = {}
_discovery_lock = threading.Lock()


def call_count(key: str, amount: int = 1) -> None:
    with _counts_lock:
        _counts[key] += amount


def call_counts() -> dict[str, int]:
    """This process's HTTP call counts: `api`, `api:<realm>`, `oauth`, `oauth:<purpose>` (for benchmarks and tests)."""
    with _counts_lock:
        return dict(_counts)


def call_counts_reset() -> None:
    with _counts_lock:
        _counts.clear()


def _discovery_url(environment: str) -> str:
    lowered = environment.lower()
    if lowered in ("production", "prod"):
        return DISCOVERY_URL["production"]
    if lowered in ("sandbox", "sand"):
        return DISCOVERY_URL["sandbox"]
    return environment


class QuickBooksAuthClient(AuthClient):
    """intuitlib's client with a default timeout, a cached discovery GET, and counted calls."""

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", conf.http_timeout())
        is_discovery = method.upper() == "GET" and url == _discovery_url(self.environment)
        if is_discovery:
            with _discovery_lock:
                cached = _discovery_cache.get(url)
            if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
                return cached[1]
        response = super().request(method, url, *args, **kwargs)
        call_count("oauth")
        call_count(f"oauth:{self._purpose(url, is_discovery)}")
        if is_discovery and response.status_code == 200:
            with _discovery_lock:
                _discovery_cache[url] = (time.monotonic(), response)
        return response

    def _purpose(self, url: str, is_discovery: bool) -> str:
        if is_discovery:
            return "discovery"
        if url == getattr(self, "token_endpoint", None):
            return "token"
        if url == getattr(self, "revoke_endpoint", None):
            return "revoke"
        return "other"


class QuickBooksSession(OAuth2Session):
    """python-quickbooks' session with a default timeout; keeps the last response so errors classify by status."""

    realm_id = ""
    last_response = None

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", conf.http_timeout())
        self.last_response = None
        call_count("api")
        call_count(f"api:{self.realm_id}")
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response


def discovery_cache_clear() -> None:
    with _discovery_lock:
        _discovery_cache.clear()


def auth_client_build(*, state_token: str | None = None) -> QuickBooksAuthClient:
    """A new intuitlib client for one flow, refresh or revoke: never shared (it carries state and tokens, A2)."""
    insecure_transport_allow()
    return QuickBooksAuthClient(
        client_id=conf.client_id(),
        client_secret=conf.client_secret(),
        redirect_uri=conf.redirect_uri(),
        environment=conf.discovery_environment(),
        state_token=state_token,
    )


def insecure_transport_allow() -> None:
    """Let requests-oauthlib talk plain http, only to a loopback emulator (STACK §2)."""
    if conf.is_emulator() and conf.emulator_is_loopback():
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


@sensitive_variables("access_token", "session")
def quickbooks_build(*, realm_id: str, access_token: str) -> QuickBooks:
    """A python-quickbooks client for one access token (build a new one after every refresh, STACK §2).

    `use_decimal=True` keeps money as Decimal; `minorversion` is explicit (75). With the access token set the
    constructor makes no HTTP call (the discovery document is cached); its session is then replaced by
    `QuickBooksSession` (timeouts, counts, last response).
    """
    auth_client = auth_client_build()
    auth_client.access_token = access_token
    qb = QuickBooks(
        auth_client=auth_client,
        company_id=realm_id,
        minorversion=conf.minorversion(),
        use_decimal=True,
    )
    session = QuickBooksSession(conf.client_id(), token={"access_token": access_token, "token_type": "Bearer"})
    session.realm_id = realm_id
    qb.session = session
    if conf.is_emulator():
        qb.api_url_v3 = conf.emulator_api_base()
    return qb
