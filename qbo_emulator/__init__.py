"""qbo_emulator: a local QuickBooks Online emulator (OAuth 2.0 + Accounting API v3), stand-alone (no Django)."""

DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - a documented emulator default, not a secret
DEFAULT_VERIFIER_TOKEN = "emulator-verifier-token"  # noqa: S105

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_VERIFIER_TOKEN"]
