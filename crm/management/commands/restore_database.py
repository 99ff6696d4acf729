"""Restore the default database from a file made by `backup_database`, replacing what it holds.

PostgreSQL: `pg_restore --clean --if-exists` in one transaction (all or nothing). SQLite: the backup API copies the
file over the live database. Stop the web and the workers first. The tokens come back still encrypted; afterwards
this command reads every encrypted column once and warns if FERNET_KEYS cannot decrypt them (set the keys in use
when the backup was taken, newest first).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from fernet_fields import EncryptedField

from .backup_database import postgres_env_args


def undecryptable_columns() -> list[str]:
    """Encrypted columns (any app's Fernet fields) holding a value the configured FERNET_KEYS cannot read."""
    broken = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedField):
                continue
            for key in ("keys", "fernet_keys", "fernet"):  # fernet_fields caches FERNET_KEYS per field
                field.__dict__.pop(key, None)
            try:
                list(model._base_manager.exclude(**{f"{field.attname}__isnull": True}).values_list(field.attname)[:50])
            except InvalidToken:
                broken.append(f"{model._meta.label}.{field.name}")
    return broken


class Command(BaseCommand):
    help = "Restore the database from a backup_database file (replaces the current contents)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", help="the file backup_database wrote")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, **options) -> None:
        path = Path(options["backup"])
        if not path.is_file():
            raise CommandError(f"No backup file at {path}.")
        name = connection.settings_dict["NAME"]
        if not options["noinput"]:
            answer = input(f"This replaces everything in the database {name!r} with {path}. Type 'yes' to go on: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled.")
        if connection.vendor == "postgresql":
            self._pg_restore(path)
        elif connection.vendor == "sqlite":
            self._sqlite_restore(path)
        else:
            raise CommandError(f"No restore method for the {connection.vendor} database.")
        self.stdout.write(f"Restored {path} into the {connection.vendor} database {name!r}.")
        broken = undecryptable_columns()
        if broken:
            self.stderr.write(
                "FERNET_KEYS cannot decrypt " + ", ".join(broken) + ": set the keys that were in use when the backup "
                "was taken (newest first), or reconnect QuickBooks."
            )

    def _pg_restore(self, path: Path) -> None:
        pg_restore = shutil.which("pg_restore")
        if pg_restore is None:
            raise CommandError("pg_restore is not installed (apt-get install postgresql-client).")
        env, args = postgres_env_args(connection.settings_dict)
        connection.close()  # our own idle session must not hold locks the DROPs wait for
        command = [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            *args,
            "--dbname",
            connection.settings_dict["NAME"],
            str(path),
        ]
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode:
            raise CommandError(f"pg_restore failed: {completed.stderr.strip()}")

    def _sqlite_restore(self, path: Path) -> None:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise CommandError(f"{path} is not a sound SQLite database.")
            connection.ensure_connection()
            source.backup(connection.connection)
        except sqlite3.DatabaseError as exc:
            raise CommandError(f"{path} is not a SQLite backup: {exc}") from exc
        finally:
            source.close()
