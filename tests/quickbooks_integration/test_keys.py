"""FERNET_KEYS rotation and a wrong key (RELIABILITY F1, F2, fault 27)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db

from quickbooks_integration.models import AuditEvent, QuickBooksAuth, fernet_caches_clear
from quickbooks_integration.qbo import client, errors
from quickbooks_integration.qbo.tokens import connection_load

pytestmark = pytest.mark.django_db


def _raw(pk: int) -> tuple[bytes, bytes]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM quickbooks_integration_quickbooksauth WHERE id = %s", [pk]
        )
        return tuple(bytes(v) for v in cursor.fetchone())


def _keys(settings, keys: list[str]) -> None:
    settings.FERNET_KEYS = keys
    fernet_caches_clear()


def test_rotation_re_encrypts_under_the_newest_key(connected, emulator, settings, capsys):
    tokens = (connected.access_token, connected.refresh_token)
    old_raw = _raw(connected.pk)
    _keys(settings, ["brand-new-key", *settings.FERNET_KEYS])
    assert (connection_load(connection_id=connected.pk).access_token,) == (tokens[0],)  # old rows still read

    call_command("rotate_encryption_keys")

    assert "Re-encrypted 1 connection(s)" in capsys.readouterr().out
    assert _raw(connected.pk) != old_raw
    _keys(settings, ["brand-new-key"])  # the old keys can now go
    row = connection_load(connection_id=connected.pk)
    assert (row.access_token, row.refresh_token) == tokens
    assert client.qbo_read_company_info(connection=row)["CompanyName"]
    assert AuditEvent.objects.filter(action="key_rotation", outcome="success").count() == 1


def test_wrong_key_fails_loudly_and_pages_still_render(connected, emulator, settings, su_client):
    good_keys = list(settings.FERNET_KEYS)
    old_raw = _raw(connected.pk)
    _keys(settings, ["a-key-that-never-encrypted-anything"])

    with pytest.raises(CommandError, match="nothing rewritten"):
        call_command("rotate_encryption_keys")
    assert _raw(connected.pk) == old_raw
    status = QuickBooksAuth.objects.values_list("status", flat=True).get()
    assert status == QuickBooksAuth.Status.CANNOT_DECRYPT

    with pytest.raises(errors.TokenDecryptError):
        connection_load(connection_id=connected.pk)
    for url in ("/admin/", "/admin/quickbooks_integration/quickbooksauth/", "/admin/quickbooks_integration/syncrun/"):
        page = su_client.get(url)
        assert page.status_code == 200, url
        assert b"Cannot decrypt: rotate or reconnect" in page.content or b"cannot decrypt" in page.content, url
    assert AuditEvent.objects.filter(action="key_rotation", outcome="failure").exists()

    _keys(settings, ["newer-key", *good_keys])  # the right key is back, plus a new one
    call_command("rotate_encryption_keys")
    row = connection_load(connection_id=connected.pk)
    assert row.status == QuickBooksAuth.Status.CONNECTED
    assert client.qbo_read_company_info(connection=row)["CompanyName"]


def test_disconnect_works_when_tokens_cannot_be_decrypted(connected, emulator, settings, su_client):
    _keys(settings, ["a-key-that-never-encrypted-anything"])
    response = su_client.post("/quickbooks/disconnect/", follow=True)
    assert response.status_code == 200
    assert QuickBooksAuth.objects.values_list("status", flat=True).get() == QuickBooksAuth.Status.DISCONNECTED
    assert emulator.control.count("/oauth2/v1/tokens/revoke") == 0
