"""`manage.py quickbooks_reconcile [--live]`: print every figure the CRM and QuickBooks disagree on; exit 1 if any.

Thin: finds the connection, calls `sales_reconcile`, prints each difference and the summary line the admin page
"Reconcile with QuickBooks" shows. Without `--live` QuickBooks' figures are the ledger's last copies (no API call);
`--live` reads every invoice and customer again (one query per 1000).
"""

from django.core.management.base import BaseCommand, CommandError

from quickbooks_integration.models import QuickBooksAuth
from quickbooks_integration.services.connection import connection_current
from quickbooks_integration.services.reconcile import sales_reconcile


class Command(BaseCommand):
    help = "Compare linked invoices' totals and balances and linked contacts' balances with QuickBooks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--live", action="store_true", help="Read QuickBooks now instead of the ledger's copies.")

    def handle(self, *args, live: bool = False, **options) -> None:
        connection = connection_current()
        if connection is None or (live and connection.status != QuickBooksAuth.Status.CONNECTED):
            raise CommandError("QuickBooks is not connected: connect it first (admin › QuickBooks › connection).")
        result = sales_reconcile(connection=connection, live=live)
        source = "QuickBooks now" if live else "the last copies from QuickBooks"
        for difference in result.differences:
            self.stdout.write(str(difference))
        self.stdout.write(f"{result.summary}.")
        if result.differences:
            raise CommandError(f"{len(result.differences)} difference(s) between the CRM and {source}.", returncode=1)
        self.stdout.write(f"The CRM agrees with {source}: no differences.")
