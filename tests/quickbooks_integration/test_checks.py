"""checks.py: production mistakes in the QuickBooks settings fail `manage.py check` (RELIABILITY F2, F6)."""

from __future__ import annotations

import pytest

from quickbooks_integration.checks import quickbooks_settings_check


def _ids(settings) -> set[str]:
    return {message.id for message in quickbooks_settings_check()}


def _production(settings) -> None:
    settings.DEBUG = False
    settings.FERNET_KEYS = ["a-real-production-key"]
    settings.QUICKBOOKS_ENVIRONMENT = "production"
    settings.QUICKBOOKS_CLIENT_ID = "id"
    settings.QUICKBOOKS_CLIENT_SECRET = "secret"
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = "verifier"
    settings.QUICKBOOKS_REDIRECT_URI = "https://crm.example.com/quickbooks/callback/"


def test_clean_production_settings_pass(settings):
    _production(settings)
    assert _ids(settings) == set()


def test_missing_fernet_keys(settings):
    _production(settings)
    settings.FERNET_KEYS = []
    assert _ids(settings) == {"quickbooks_integration.E001"}


def test_development_fernet_key_refused(settings):
    _production(settings)
    settings.FERNET_KEYS = ["development-only-fernet-key-do-not-use-in-production"]
    assert _ids(settings) == {"quickbooks_integration.E002"}


def test_emulator_with_debug_off(settings):
    _production(settings)
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    assert _ids(settings) == {"quickbooks_integration.E003"}


def test_missing_secrets(settings):
    _production(settings)
    settings.QUICKBOOKS_CLIENT_SECRET = ""
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = ""
    assert [m.id for m in quickbooks_settings_check()] == ["quickbooks_integration.E004"] * 2


def test_development_is_allowed_everything(settings):
    settings.DEBUG = True
    settings.FERNET_KEYS = ["development-only-fernet-key-do-not-use-in-production"]
    settings.QUICKBOOKS_ENVIRONMENT = "emulator"
    settings.QUICKBOOKS_CLIENT_SECRET = ""
    assert _ids(settings) == set()


def test_unknown_environment(settings):
    _production(settings)
    settings.QUICKBOOKS_ENVIRONMENT = "staging"
    assert _ids(settings) == {"quickbooks_integration.E005"}


@pytest.mark.parametrize(
    "redirect_uri",
    ["", "http://127.0.0.1:8000/quickbooks/callback/", "http://crm.example.com/quickbooks/callback/"],
)
def test_production_needs_an_https_redirect_uri(settings, redirect_uri):
    """settings.py defaults QUICKBOOKS_REDIRECT_URI to the loopback dev URL even with DEBUG off."""
    _production(settings)
    settings.QUICKBOOKS_REDIRECT_URI = redirect_uri
    assert _ids(settings) == {"quickbooks_integration.E006"}
