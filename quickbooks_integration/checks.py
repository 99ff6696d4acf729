"""System checks for production mistakes in the QuickBooks settings (RELIABILITY F2, F6; STYLE §11).

With DEBUG off: FERNET_KEYS must be set and must not be the development default (fernet_fields would otherwise
silently derive a key from SECRET_KEY); the emulator environment is an error; the client secret and the
webhook verifier token must be set; the OAuth redirect URI must be a
public https URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from . import conf


@checks.register(checks.Tags.security, deploy=False)
def quickbooks_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if conf.environment() not in conf.ENVIRONMENTS:
        errors.append(
            checks.Error(
                f"QUICKBOOKS_ENVIRONMENT={conf.environment()!r} is not one of {', '.join(conf.ENVIRONMENTS)}.",
                id="quickbooks_integration.E005",
            )
        )
    if settings.DEBUG:
        return errors
    keys = [key for key in (getattr(settings, "FERNET_KEYS", None) or []) if key]
    if not keys:
        errors.append(
            checks.Error(
                "FERNET_KEYS is empty: tokens would be encrypted with a key derived from SECRET_KEY.",
                hint="Set FERNET_KEYS (comma list, newest first) in the environment.",
                id="quickbooks_integration.E001",
            )
        )
    elif conf.DEVELOPMENT_FERNET_KEY in keys:
        errors.append(
            checks.Error(
                "FERNET_KEYS contains the development default key.",
                hint="Generate a new key, add it first, run rotate_encryption_keys, then drop the old one.",
                id="quickbooks_integration.E002",
            )
        )
    if conf.is_emulator():
        errors.append(
            checks.Error(
                "QUICKBOOKS_ENVIRONMENT=emulator with DEBUG off.",
                hint="Use sandbox or production outside development.",
                id="quickbooks_integration.E003",
            )
        )
    redirect = urlsplit(conf.redirect_uri())
    if not conf.is_emulator() and (redirect.scheme != "https" or conf.is_loopback_host(redirect.hostname or "")):
        # settings.py defaults it to the loopback development URL even with DEBUG off; Intuit's production keys
        # accept only https redirect URIs, and the callback carries the authorization code.
        errors.append(
            checks.Error(
                f"QUICKBOOKS_REDIRECT_URI={conf.redirect_uri()!r} is not a public https URL.",
                hint="Set it to https://<your host>/quickbooks/callback/, exactly as registered with Intuit.",
                id="quickbooks_integration.E006",
            )
        )
    for name, value in (
        ("QUICKBOOKS_CLIENT_ID", conf.client_id()),
        ("QUICKBOOKS_CLIENT_SECRET", conf.client_secret()),
        ("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", conf.verifier_token()),
    ):
        if not value:
            errors.append(checks.Error(f"{name} is not set.", id="quickbooks_integration.E004"))
    return errors
