"""`manage.py quickbooks_sync [customers items estimates invoices payments | all] [--full]`: run syncs inline and
print what each did.

Thin: finds the connection, calls each kind's service, prints the run's figures. A run is the same one a worker would
run (services/runs.py), so it resumes an unfinished import and leaves a failed run and failure row when QBO fails.
"""

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from quickbooks_integration.models import QuickBooksAuth, SyncRun
from quickbooks_integration.services.connection import connection_current
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.products import items_import_run
from quickbooks_integration.services.sales_pull import estimates_import_run, invoices_import_run, payments_import_run

SALES_FIGURES = (
    ("created", "created"),
    ("updated", "updated"),
    ("matched", "linked: typed in both systems"),
    ("doubtful", "created beside a possible twin"),
    ("voided", "voided"),
    ("deleted", "deleted in QuickBooks"),
    ("unlinked_customer", "skipped: customer not linked"),
    ("total_mismatch", "totals differing from QBO"),
    ("unchanged", "unchanged"),
    ("failed", "failed"),
)

# kind → (service, title, the figures it prints in order), in the order `all` runs them: documents refer to customers
# and items, payments to invoices.
KINDS: dict[str, tuple[Callable[..., SyncRun | None], str, tuple[tuple[str, str], ...]]] = {
    "customers": (
        customers_import_run,
        "Customers import",
        (
            ("linked", "linked"),
            ("created", "created"),
            ("queued", "queued for review"),
            ("updated", "updated"),
            ("unlinked", "unlinked"),
            ("children", "jobs pointed at their parent"),
            ("inactive", "inactive, left alone"),
            ("unchanged", "unchanged"),
            ("failed", "failed"),
        ),
    ),
    "items": (
        items_import_run,
        "Items import",
        (
            ("created", "products created"),
            ("updated", "products updated"),
            ("deactivated", "deactivated"),
            ("groupings", "categories (no product)"),
            ("unchanged", "unchanged"),
            ("failed", "failed"),
        ),
    ),
    "estimates": (estimates_import_run, "Estimates import", SALES_FIGURES),
    "invoices": (invoices_import_run, "Invoices import", SALES_FIGURES),
    "payments": (payments_import_run, "Payments import", SALES_FIGURES),
}


class Command(BaseCommand):
    help = (
        "Run QuickBooks syncs now and print their figures. Kinds: customers, items, estimates, invoices, payments, all."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "kinds",
            nargs="+",
            choices=[*KINDS, "all"],
            metavar="kind",
            help=", ".join([*KINDS, "all"]),
        )
        parser.add_argument("--full", action="store_true", help="Read everything again instead of changes (CDC).")

    def handle(self, *args, kinds: list[str], full: bool = False, **options):
        connection = connection_current()
        if connection is None or connection.status != QuickBooksAuth.Status.CONNECTED:
            raise CommandError("QuickBooks is not connected: connect it first (admin › QuickBooks › connection).")
        chosen = list(KINDS) if "all" in kinds else [kind for kind in KINDS if kind in kinds]
        failed = []
        for kind in chosen:
            service, title, figures = KINDS[kind]
            run = service(connection_id=connection.pk, full=full)
            if run is None:
                raise CommandError(f"Another worker is running the {kind} sync right now; try again later.")
            stats = run.stats or {}
            mode = "full" if run.cursor.get("mode") == "full" or run.cursor.get("full") else "changes only (CDC)"
            self.stdout.write(f"{title} #{run.pk} ({mode}): {run.get_status_display().lower()}.")
            for key, label in figures:
                self.stdout.write(f"  {label + ':':<30} {stats.get(key, 0)}")
            self.stdout.write(
                f"  {'API calls:':<30} {run.api_calls} made, {stats.get('api_minimum', 0)} the minimum possible"
            )
            if run.status != SyncRun.Status.SUCCEEDED:
                failed.append(f"{kind}: {run.error}")
        if failed:
            raise CommandError("The sync failed (run it again to continue where it stopped): " + "; ".join(failed))
