"""``manage.py load_demo [--reset]``: load Attack-a-Crack's demo data and the demo logins, then print them.

Thin: parses, calls ``crm.demo.load.demo_load`` and ``crm.demo.logins.logins_ensure``, prints. Safe to run on
every ``make demo``: a second run creates nothing.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import ProtectedError
from django.utils import timezone

from crm.demo.load import demo_load
from crm.demo.logins import logins_ensure


class Command(BaseCommand):
    help = "Load the Attack-a-Crack demo data (contacts, activities, campaigns, quotes, invoices) and demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the demo's CRM rows first, then reload.")

    def handle(self, *args, reset: bool = False, **options):
        started = time.monotonic()
        try:
            counts = demo_load(today=timezone.localdate(), reset=reset)
        except ProtectedError as exc:  # --reset met a demo contact that non-demo money rows still point at
            raise CommandError(f"--reset stopped, nothing was deleted: {exc.args[0]}") from exc
        logins = logins_ensure()
        created = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        self.stdout.write(
            f"Demo data: {'created ' + created if created else 'already loaded, nothing to add'} "
            f"({time.monotonic() - started:.1f} s)."
        )
        self.stdout.write("Demo logins (username / password):")
        for username, password, role, purpose in logins:
            self.stdout.write(f"  {username:<11} / {password:<16} {role}: {purpose}")
