"""crm_project/log_filters.py redacts what the HTTP libraries could log (RELIABILITY F3)."""

from __future__ import annotations

import logging

import pytest

from crm_project.log_filters import RedactSecretsFilter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ("headers={'Authorization': 'Basic ZW11bGF0b3I6c2VjcmV0'}", "ZW11bGF0b3I6c2VjcmV0"),
        ("grant_type=refresh_token&refresh_token=RT1-123-H0-abcdef", "RT1-123-H0-abcdef"),
        ('{"access_token": "eyJlbmMi..xyz", "expires_in": 3600}', "eyJlbmMi..xyz"),
        ("GET /quickbooks/callback/?code=AB11secretcode&state=s3cr3tstate&realmId=1", "AB11secretcode"),
        ("GET /quickbooks/callback/?code=AB11secretcode&state=s3cr3tstate&realmId=1", "s3cr3tstate"),
        ('POST revoke body {"token": "RT1-999-H0-zzz"}', "RT1-999-H0-zzz"),
        ("intuit-signature: c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("client_secret=emulator-client-secret", "emulator-client-secret"),
    ],
)
def test_redact(text, secret):
    assert secret not in redact(text)


def test_filter_rewrites_the_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling %s", ("?code=abc123",), None)
    assert RedactSecretsFilter().filter(record) is True
    assert "abc123" not in record.getMessage()
    assert "realmId=42" in redact("?code=abc&realmId=42")


def test_filter_redacts_the_traceback_too():
    try:
        raise RuntimeError("refresh failed: refresh_token=RT1-777-H0-secret")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "refresh failed", (), sys.exc_info())
    RedactSecretsFilter().filter(record)
    handler_output = logging.Formatter().format(record)
    assert "RT1-777-H0-secret" not in handler_output
    assert "RuntimeError" in handler_output
