"""Fixtures: the QBO emulator (one server per session, reset per test) and a connection made by the real flow."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from qbo_emulator.testing import RunningEmulator
from quickbooks_integration.models import QuickBooksAuth, fernet_caches_clear
from tests.support.emulator import consent, emulator_use

CALLBACK = "http://testserver/quickbooks/callback/"


@pytest.fixture
def emulator(emulator_server: RunningEmulator, settings) -> RunningEmulator:
    """The running emulator, reset, with the app's QUICKBOOKS_* settings pointing at it."""
    yield emulator_use(emulator_server, settings, redirect_uri=CALLBACK)
    fernet_caches_clear()


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def oauth_flow(client, emulator: RunningEmulator, *, decision: str = "connect"):
    """The whole flow through the real views; returns (callback response, callback URL Intuit redirected to)."""
    start_response = client.post("/quickbooks/connect/")
    assert start_response.status_code == 302, start_response
    location = consent(emulator, start_response["Location"], decision=decision)
    return client.get(local_path(location)), location


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345")


@pytest.fixture
def su_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def connected(emulator, su_client, django_capture_on_commit_callbacks) -> QuickBooksAuth:
    """A connection made by the real OAuth flow against the emulator (initial sync run inline)."""
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = oauth_flow(su_client, emulator)
    assert response.status_code == 302, response
    return QuickBooksAuth.objects.get(company_id=emulator.realm_id)


@pytest.fixture
def client_factory_superuser(django_user_model):
    """Another superuser in another browser session."""

    def make():
        from django.test import Client

        user = django_user_model.objects.create_superuser("other-root", "other@example.com", "pw-other-12345")
        other = Client()
        other.force_login(user)
        return other

    return make
