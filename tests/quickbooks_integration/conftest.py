"""Fixtures: the QBO emulator (one server per session, reset per test) and a connection made by the real flow."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests

from quickbooks_integration.models import QuickBooksAuth, fernet_caches_clear
from quickbooks_integration.services.http import call_counts_reset, discovery_cache_clear

from .emulator import Emulator, start

CALLBACK = "http://testserver/quickbooks/callback/"


@pytest.fixture(scope="session")
def emulator_server():
    server = start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: Emulator, settings) -> Emulator:
    """The running emulator, reset, with the app's QUICKBOOKS_* settings pointing at it."""
    emulator_server.control.reset()
    emulator_server.control.auto_approve(False)  # reset() keeps it; tests that want it turn it on
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_EMULATOR_URL = emulator_server.url
    settings.QUICKBOOKS_CLIENT_ID = emulator_server.client_id
    settings.QUICKBOOKS_CLIENT_SECRET = emulator_server.client_secret
    settings.QUICKBOOKS_REDIRECT_URI = CALLBACK
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = emulator_server.verifier_token
    discovery_cache_clear()
    call_counts_reset()
    fernet_caches_clear()
    yield emulator_server
    fernet_caches_clear()


def _hidden_inputs(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return fields


def consent(authorize_url: str, *, decision: str = "connect") -> str:
    """Play the user on the emulator's consent page: GET it, submit Connect/Cancel; returns the redirect Location."""
    page = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text[:300]
    form = _hidden_inputs(page.text)
    form["decision"] = decision
    parts = urlsplit(authorize_url)
    answer = requests.post(
        f"{parts.scheme}://{parts.netloc}/connect/oauth2", data=form, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["Location"]


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def oauth_flow(client, *, decision: str = "connect"):
    """The whole flow through the real views; returns (callback response, callback URL Intuit redirected to)."""
    start_response = client.post("/quickbooks/connect/")
    assert start_response.status_code == 302, start_response
    location = consent(start_response["Location"], decision=decision)
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
        response, _ = oauth_flow(su_client)
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
