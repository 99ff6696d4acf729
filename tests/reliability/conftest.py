"""Fixtures of the fault matrix (issue 12, ../shared/RELIABILITY.md §3): the QBO emulator and a connection made by the
real OAuth flow (reused from tests/quickbooks_integration/conftest.py), a company large enough to have two pages,
and the virtual clock the transport sleeps on."""

from __future__ import annotations

import pytest

from qbo_emulator.testing import RunningEmulator, start_emulator
from quickbooks_integration.models import QuickBooksAuth, fernet_caches_clear
from quickbooks_integration.qbo import client as qbo_client
from tests.quickbooks_integration.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    CALLBACK,
    connected,
    emulator,
    oauth_flow,
    su_client,
    superuser,
)
from tests.support.emulator import emulator_use

from .support import VirtualClock

BIG = 1200  # customers: COUNT + two pages of QBO's 1000, so a fault can land between two committed pages


@pytest.fixture(scope="session")
def big_server() -> RunningEmulator:
    server = start_emulator(seed="empty", customers=BIG)
    yield server
    server.stop()


@pytest.fixture
def big(big_server, settings, su_client, django_capture_on_commit_callbacks) -> tuple[RunningEmulator, QuickBooksAuth]:  # noqa: F811
    """The 1,200-customer company, reset, connected through the real OAuth flow; its request log cleared."""
    emulator_use(big_server, settings, redirect_uri=CALLBACK)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = oauth_flow(su_client, big_server)
    assert response.status_code == 302, response
    big_server.control.clear_requests()
    yield big_server, QuickBooksAuth.objects.get(company_id=big_server.realm_id)
    fernet_caches_clear()


@pytest.fixture
def clock(monkeypatch, request) -> VirtualClock:
    """The transport's default sleeper replaced by a virtual clock on whichever emulator the test uses (the
    services take no sleeper themselves; `qbo_call` falls back to `_default_sleeper`)."""
    server = request.getfixturevalue("big")[0] if "big" in request.fixturenames else request.getfixturevalue("emulator")
    virtual = VirtualClock(server)
    monkeypatch.setattr(qbo_client, "_default_sleeper", virtual)
    return virtual
