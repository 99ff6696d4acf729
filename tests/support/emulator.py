"""Pointing the app at the in-process QBO emulator, shared by the integration tests and the browser journeys."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from qbo_emulator.testing import RunningEmulator
from quickbooks_integration.models import fernet_caches_clear
from quickbooks_integration.qbo.http import call_counts_reset, discovery_cache_clear


def emulator_use(server: RunningEmulator, settings, *, redirect_uri: str) -> RunningEmulator:
    """Reset the emulator to its seed and point every QUICKBOOKS_* setting at it."""
    server.control.reset()
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_EMULATOR_URL = server.url
    settings.QUICKBOOKS_CLIENT_ID = server.client_id
    settings.QUICKBOOKS_CLIENT_SECRET = server.client_secret
    settings.QUICKBOOKS_REDIRECT_URI = redirect_uri
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = server.verifier_token
    discovery_cache_clear()
    call_counts_reset()
    fernet_caches_clear()
    return server


def consent(server: RunningEmulator, authorize_url: str, *, decision: str = "connect") -> str:
    """Play the user on the emulator's consent page; returns the callback URL Intuit would redirect the browser to."""
    redirect_uri = dict(parse_qsl(urlsplit(authorize_url).query))["redirect_uri"]
    return f"{redirect_uri}?{urlencode(server.approve(authorize_url, decision=decision))}"
