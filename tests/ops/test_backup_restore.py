"""Backups: back up, destroy the database, restore, and find every row again, on SQLite and on PostgreSQL; the
tokens travel encrypted and read back only with the same FERNET_KEYS."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from crm.models import Contact
from quickbooks_integration.models import QuickBooksAuth, fernet_caches_clear
from tests.crm.factories import ContactFactory, InvoiceFactory, QuoteFactory

ACCESS = "access-token-PLAINTEXT-7777"
REFRESH = "refresh-token-PLAINTEXT-8888"


def every_row() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models() if model._meta.managed}


def seed() -> dict[str, int]:
    ContactFactory.create_batch(12)
    QuoteFactory.create_batch(3)
    InvoiceFactory.create_batch(3)
    QuickBooksAuth.objects.create(company_id="9130357766001234", access_token=ACCESS, refresh_token=REFRESH)
    counts = every_row()
    assert counts["crm.Contact"] >= 12 and counts["auth.Permission"] > 0
    return counts


def destroy() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            tables = [row[0] for row in cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()]
            for table in tables:
                cursor.execute(f'DROP TABLE "{table}"')
            cursor.execute("PRAGMA foreign_keys = ON")
    assert "crm_contact" not in connection.introspection.table_names()


def round_trip(tmp_path: Path, capsys) -> None:
    counts = seed()
    names = sorted(Contact.objects.values_list("first_name", "last_name", "phone"))
    backup = tmp_path / "crm.backup"
    call_command("backup_database", "--output", str(backup))
    assert backup.stat().st_size > 0 and oct(backup.stat().st_mode & 0o777) == "0o600"

    destroy()
    call_command("restore_database", str(backup), "--noinput")

    assert every_row() == counts
    assert sorted(Contact.objects.values_list("first_name", "last_name", "phone")) == names
    fernet_caches_clear()
    auth = QuickBooksAuth.objects.get()
    assert (auth.access_token, auth.refresh_token) == (ACCESS, REFRESH)
    with connection.cursor() as cursor:  # at rest they are still ciphertext
        cursor.execute("SELECT access_token FROM quickbooks_integration_quickbooksauth")
        assert ACCESS.encode() not in bytes(cursor.fetchone()[0])
    assert "cannot decrypt" not in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_backup_destroy_restore_on_sqlite(tmp_path, capsys):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite round trip runs on the SQLite pass")
    round_trip(tmp_path, capsys)
    assert ACCESS.encode() not in (tmp_path / "crm.backup").read_bytes()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_backup_destroy_restore_on_postgresql(tmp_path, capsys):
    round_trip(tmp_path, capsys)


@pytest.mark.django_db(transaction=True)
def test_restore_warns_when_fernet_keys_cannot_read_the_tokens(tmp_path, settings, capsys):
    QuickBooksAuth.objects.create(company_id="1", access_token=ACCESS, refresh_token=REFRESH)
    backup = tmp_path / "crm.backup"
    call_command("backup_database", "--output", str(backup))
    settings.FERNET_KEYS = ["a-different-key-than-the-backup-had"]
    try:
        call_command("restore_database", str(backup), "--noinput")
        err = capsys.readouterr().err
        assert "FERNET_KEYS cannot decrypt quickbooks_integration.QuickBooksAuth.access_token" in err
    finally:
        fernet_caches_clear()
