"""Print the QuickBooks connection's status (never its tokens) and this process's call counts."""

from django.core.management.base import BaseCommand

from quickbooks_integration.models import SyncRun
from quickbooks_integration.services.connection import connection_current


class Command(BaseCommand):
    help = "Show the QuickBooks connection: company, realm, status, token expiry times and recent sync runs."

    def handle(self, *args, **options):
        connection = connection_current()
        if connection is None:
            self.stdout.write("QuickBooks: not connected.")
            return
        self.stdout.write(f"Company:         {connection.company_name or '(not read yet)'}")
        self.stdout.write(f"Realm id:        {connection.company_id}")
        self.stdout.write(f"Status:          {connection.get_status_display()}")
        self.stdout.write(f"Access expires:  {connection.expires_at or '-'}")
        self.stdout.write(f"Refresh expires: {connection.refresh_expires_at or '-'}")
        self.stdout.write(f"Last refreshed:  {connection.last_refreshed_at or '-'}")
        if connection.last_error:
            self.stdout.write(f"Last error:      {connection.last_error}")
        for run in SyncRun.objects.filter(connection=connection)[:5]:
            self.stdout.write(f"Run #{run.pk} {run.kind} {run.status} calls={run.api_calls} {run.stats or run.error}")
