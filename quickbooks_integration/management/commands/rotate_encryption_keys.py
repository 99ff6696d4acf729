"""Re-encrypt every QuickBooks token under the newest key of FERNET_KEYS (then the old keys can be dropped)."""

from django.core.management.base import BaseCommand, CommandError

from quickbooks_integration.qbo.errors import TokenDecryptError
from quickbooks_integration.services.keys import encryption_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored QuickBooks token under the first (newest) key in FERNET_KEYS."

    def handle(self, *args, **options):
        try:
            rotated = encryption_keys_rotate()
        except TokenDecryptError as exc:
            raise CommandError(
                f"Rotation failed, nothing rewritten: {exc}. Put the old key back in FERNET_KEYS."
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} connection(s) under the newest key."))
