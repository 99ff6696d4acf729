"""Builds the two libraries' HTTP clients: default timeouts, call counting, and the emulator/sandbox/production base.

Neither intuitlib nor python-quickbooks passes a timeout (RELIABILITY finding 2), so both get a `requests`
session subclass whose `request` sets one by default. The emulator is reached through the libraries' documented
knobs only: intuitlib's `environment` as the discovery URL (API.md §1.7 option 1) and python-quickbooks'
`api_url_v3` instance attribute (API.md §2.1); `OAUTHLIB_INSECURE_TRANSPORT=1` is set only for a loopback
`http://` emulator. Only this package and `services/connection.py` (the OAuth flow) import the libraries.

Calls are counted two ways: per process (`call_counts`, for benchmarks and tests), and per caller through
`calls_observed` (a context variable), so a sync run counts exactly the calls made on its behalf even when two
runs overlap in one worker. An observer is told before each request is sent, so a worker killed mid-call has
already counted it.

The discovery document is cached per process for an hour: Intuit publishes it as a static file, and without the
cache every `AuthClient` (one per flow, refresh and revoke: A2) would cost a GET.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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


CallObserver = Callable[[str, str], None]  # (kind "api" | "oauth", realm id or "") -> None
_observers: ContextVar[tuple[CallObserver, ...]] = ContextVar("qbo_call_observers", default=())


@contextmanager
def calls_observed(observer: CallObserver) -> Iterator[None]:
    """Call `observer(kind, realm_id)` before every QBO or OAuth request this context sends (nested contexts add)."""
    token = _observers.set((*_observers.get(), observer))
    try:
        yield
    finally:
        _observers.reset(token)


def call_count(kind: str, realm_id: str = "", purpose: str = "") -> None:
    """Count one request about to be sent: per process, then to this context's observers."""
    with _counts_lock:
        _counts[kind] += 1
        if realm_id:
            _counts[f"{kind}:{realm_id}"] += 1
        if purpose:
            _counts[f"{kind}:{purpose}"] += 1
    for observer in _observers.get():
        observer(kind, realm_id)


def call_counts() -> dict[str, int]:
    """This process's HTTP call counts: `api`, `api:<realm id>`, `oauth`, `oauth:<purpose>` (benchmarks, tests)."""
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
        call_count("oauth", purpose=self._purpose(url, is_discovery))
        response = super().request(method, url, *args, **kwargs)
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
        call_count("api", realm_id=self.realm_id)
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
