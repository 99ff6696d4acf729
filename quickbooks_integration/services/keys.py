"""Encryption-key rotation: re-encrypt every stored token under the newest FERNET_KEYS key (RELIABILITY F1).

fernet_fields decrypts with any configured key (MultiFernet) and encrypts with the first, so re-saving each row
rotates it. A row that no configured key can decrypt fails the whole rotation loudly (nothing is rewritten:
one transaction) and is marked "cannot decrypt", never rewritten as garbage.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connection as db
from django.db import transaction

from ..models import AuditEvent, QuickBooksAuth
from ..models.connection import TOKEN_FIELDS, fernet_caches_clear
from ..qbo.errors import TokenDecryptError
from ..qbo.tokens import connection_mark_undecryptable
from .audit import audit_record


def _newest_fernet() -> Fernet:
    field = QuickBooksAuth._meta.get_field("access_token")
    return Fernet(field.fernet_keys[0])


def encryption_keys_rotate(*, actor=None) -> int:
    """Re-encrypt every connection's tokens under the newest key; returns how many rows were rewritten."""
    fernet_caches_clear()
    ids = list(QuickBooksAuth.objects.values_list("pk", flat=True))
    rotated = 0
    failed: int | None = None
    try:
        with transaction.atomic():
            for pk in ids:
                try:
                    row = QuickBooksAuth.objects.select_for_update().get(pk=pk)
                except InvalidToken:
                    failed = pk
                    raise TokenDecryptError(f"connection {pk}: no key in FERNET_KEYS decrypts its tokens") from None
                if row.access_token is None and row.refresh_token is None:
                    continue
                fields = [*TOKEN_FIELDS, "updated_at"]
                if row.status == QuickBooksAuth.Status.CANNOT_DECRYPT:  # the right key is back: usable again
                    row.status, row.last_error = QuickBooksAuth.Status.CONNECTED, ""
                    fields += ["status", "last_error"]
                row.save(update_fields=fields)
                rotated += 1
            _verify_newest_key(ids)
    except TokenDecryptError as exc:
        connection_mark_undecryptable(connection_id=failed)
        audit_record(action="key_rotation", actor=actor, outcome=AuditEvent.Outcome.FAILURE, message=str(exc))
        raise
    audit_record(action="key_rotation", actor=actor, after={"rows": rotated, "keys": len(settings.FERNET_KEYS)})
    return rotated


def _verify_newest_key(ids: list[int]) -> None:
    """Read the raw ciphertext back and decrypt it with the newest key alone: proof the old keys can go."""
    fernet = _newest_fernet()
    table = QuickBooksAuth._meta.db_table
    with db.cursor() as cursor:
        for pk in ids:
            # bandit B608 reviewed: the table name comes from the model, the id is a bound parameter
            cursor.execute(f"SELECT access_token, refresh_token FROM {table} WHERE id = %s", [pk])  # noqa: S608  # nosec B608
            for value in cursor.fetchone():
                if value is not None:
                    fernet.decrypt(bytes(value))
