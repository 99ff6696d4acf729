"""The QuickBooks connection (the plan's `QuickBooksAuth`; "connection" everywhere in code and pages): the realm,
encrypted tokens, expiry times and status.

Tokens are Fernet-encrypted at rest (django-fernet-fields-v2, newest key of FERNET_KEYS first); they never appear
in a form, list, page or log. Fernet columns cannot be indexed, so the realm id stays a plain unique column for
lookups (STACK §2). Reading a row whose tokens were encrypted under a key no longer configured raises
`cryptography.fernet.InvalidToken`: services load tokens through `services.connection.connection_tokens_load`,
which turns that into the "cannot decrypt" status instead of a 500, and pages load rows with the token
columns deferred.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from fernet_fields import EncryptedTextField

TOKEN_FIELDS = ("access_token", "refresh_token")


class QuickBooksAuth(models.Model):
    """One QBO company connection; disconnecting clears the tokens and keeps the row as history."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        CANNOT_DECRYPT = "cannot_decrypt", "Cannot decrypt: rotate or reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    company_id = models.CharField("realm id", max_length=32, unique=True)
    company_name = models.CharField(max_length=255, blank=True)
    access_token = EncryptedTextField(null=True, blank=True, editable=False)
    refresh_token = EncryptedTextField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField("access token expires at", null=True, blank=True)
    refresh_expires_at = models.DateTimeField("refresh token expires at", null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED, db_index=True)
    last_error = models.TextField(blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "QuickBooks connection"
        verbose_name_plural = "QuickBooks connection"
        permissions = [("manage_connection", "Can connect, disconnect and test the QuickBooks connection")]

    def __str__(self) -> str:
        return f"{self.company_name or 'QuickBooks company'} ({self.company_id})"

    @property
    def realm_id(self) -> str:
        """The QBO company id: Intuit calls it the realm, the plan's column is `company_id`; code says realm_id."""
        return self.company_id

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.CONNECTED

    @property
    def access_token_seconds_left(self) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - timezone.now()).total_seconds()


def fernet_caches_clear() -> None:
    """Forget the keys fernet_fields cached on the token fields (it reads FERNET_KEYS once per field instance)."""
    for name in TOKEN_FIELDS:
        field = QuickBooksAuth._meta.get_field(name)
        for attr in ("keys", "fernet_keys", "fernet"):
            field.__dict__.pop(attr, None)
