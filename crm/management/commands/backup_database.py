"""Back up the default database to one file: `pg_dump` (custom format) on PostgreSQL, SQLite's online backup API.

The copy holds the OAuth tokens exactly as stored, Fernet-encrypted; restoring it is useless without the
FERNET_KEYS in use when it was taken, so keep those keys (not beside the backups) for as long as the backups.
The file is written with mode 600. docs/operations.md ("Backups") has the schedule and the restore drill.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone


def postgres_env_args(settings_dict: dict) -> tuple[dict[str, str], list[str]]:
    """libpq connection arguments for pg_dump/pg_restore; the password goes in the environment, never argv."""
    env = {**os.environ}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    args = []
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            args += [option, str(settings_dict[key])]
    return env, args


class Command(BaseCommand):
    help = "Back up the database to a file (pg_dump custom format on PostgreSQL, a SQLite file on SQLite)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", help="file to write (default: var/backups/<database>-<UTC time>.<ext>)")

    def handle(self, *args, **options) -> None:
        vendor = connection.vendor
        if vendor not in ("postgresql", "sqlite"):
            raise CommandError(f"No backup method for the {vendor} database.")
        suffix = "dump" if vendor == "postgresql" else "sqlite3"
        output = Path(
            options["output"]
            or Path(settings.BASE_DIR) / "var" / "backups" / (f"{vendor}-{timezone.now():%Y%m%dT%H%M%SZ}.{suffix}")
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch(mode=0o600)
        if vendor == "postgresql":
            self._pg_dump(output)
        else:
            self._sqlite_backup(output)
        os.chmod(output, 0o600)
        self.stdout.write(f"Backed up the {vendor} database to {output} ({output.stat().st_size} bytes).")

    def _pg_dump(self, output: Path) -> None:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise CommandError("pg_dump is not installed (apt-get install postgresql-client).")
        env, args = postgres_env_args(connection.settings_dict)
        command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(output), *args]
        command.append(connection.settings_dict["NAME"])
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode:
            raise CommandError(f"pg_dump failed: {completed.stderr.strip()}")

    def _sqlite_backup(self, output: Path) -> None:
        """SQLite's online backup API: a consistent copy while the web and workers keep writing (WAL)."""
        connection.ensure_connection()
        target = sqlite3.connect(output)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
