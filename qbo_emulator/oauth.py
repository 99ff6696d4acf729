"""OAuth 2.0 server as Intuit runs it: clients, auth codes, connections, rotating refresh and access tokens."""

from __future__ import annotations

import base64
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .clock import Clock

ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 8726400  # rolling, renewed by every refresh
REFRESH_GRACE = 24 * 3600  # a rotated-away refresh token keeps working this long
HARD_EXPIRY = 5 * 365 * 24 * 3600  # the 5-year maximum of a connection's refresh tokens
AUTH_CODE_TTL = 600
JWE_HEADER = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0"  # {"enc":"A128CBC-HS256","alg":"dir"} like QBO's JWE
_URLSAFE = string.ascii_letters + string.digits + "-_"


def _random(n: int, alphabet: str = _URLSAFE) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_access_token() -> str:
    """An opaque ~900-character string shaped like QBO's JWE (five dot-separated parts, the second empty)."""
    return f"{JWE_HEADER}..{_random(22)}.{_random(820)}.{_random(22)}"


def new_refresh_token() -> str:
    return f"RT1-{secrets.randbelow(900) + 100}-H0-{_random(40, string.ascii_lowercase + string.digits)}"


def new_auth_code() -> str:
    return (
        "AB11"
        + "".join(secrets.choice(string.digits) for _ in range(10))
        + _random(36, string.ascii_letters + string.digits)
    )


@dataclass
class AuthCode:
    code: str
    client_id: str
    realm_id: str
    redirect_uri: str
    scope: str
    issued_at: float
    used: bool = False
    connection_id: str | None = None  # set once exchanged (for revocation on reuse)


@dataclass
class Connection:
    """One authorization grant (client x realm). Revoking it kills its refresh and access tokens."""

    id: str
    client_id: str
    realm_id: str
    scope: str
    created_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    connection_id: str
    issued_at: float
    expires_at: float
    stale_since: float | None = None  # set when rotated away


@dataclass
class AccessToken:
    token: str
    connection_id: str
    expires_at: float


@dataclass
class OAuthServer:
    """Holds all OAuth state. Thread-safe through one lock."""

    clock: Clock
    clients: dict[str, str] = field(default_factory=dict)  # client_id -> secret
    codes: dict[str, AuthCode] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- persistence
    def export(self) -> dict[str, Any]:
        with self.lock:
            return {
                "connections": [vars(c) for c in self.connections.values()],
                "refresh_tokens": [vars(t) for t in self.refresh_tokens.values()],
                "access_tokens": [vars(t) for t in self.access_tokens.values()],
            }

    def load(self, data: dict[str, Any]) -> None:
        """The inverse of export(). The state file's JSON reader gives Decimal numbers: times become floats again."""
        with self.lock:
            self.connections = {c["id"]: Connection(**_floats(c)) for c in data.get("connections", [])}
            self.refresh_tokens = {t["token"]: RefreshToken(**_floats(t)) for t in data.get("refresh_tokens", [])}
            self.access_tokens = {t["token"]: AccessToken(**_floats(t)) for t in data.get("access_tokens", [])}

    def clear_grants(self) -> None:
        with self.lock:
            self.codes.clear()
            self.connections.clear()
            self.refresh_tokens.clear()
            self.access_tokens.clear()

    # ---------------------------------------------------------------- client auth
    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> str | None:
        """Basic auth (client_secret_basic) or form fields (client_secret_post). Returns the client id or None."""
        client_id = secret = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        elif form.get("client_id"):
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if client_id is None or secret is None:
            return None
        expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            return None
        return client_id

    # ---------------------------------------------------------------- grants
    def issue_code(self, client_id: str, realm_id: str, redirect_uri: str, scope: str) -> str:
        code = new_auth_code()
        with self.lock:
            self.codes[code] = AuthCode(code, client_id, realm_id, redirect_uri, scope, self.clock.timestamp())
        return code

    def _issue(self, connection: Connection, now: float) -> tuple[AccessToken, RefreshToken]:
        access = AccessToken(new_access_token(), connection.id, now + ACCESS_TOKEN_TTL)
        refresh = RefreshToken(new_refresh_token(), connection.id, now, now + REFRESH_TOKEN_TTL)
        self.access_tokens[access.token] = access
        self.refresh_tokens[refresh.token] = refresh
        return access, refresh

    def token_response(
        self, access: AccessToken, refresh: RefreshToken, connection: Connection, *, hard: bool
    ) -> dict[str, Any]:
        now = self.clock.timestamp()
        hard_left = round(connection.created_at + HARD_EXPIRY - now)
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access.token,
            "refresh_token": refresh.token,
            "expires_in": ACCESS_TOKEN_TTL,
            "x_refresh_token_expires_in": max(0, min(round(refresh.expires_at - now), hard_left)),
        }
        if hard:
            body["x_refresh_token_hard_expires_in"] = max(0, hard_left)
        return body

    def connect(
        self, client_id: str, realm_id: str, scope: str = "com.intuit.quickbooks.accounting"
    ) -> tuple[AccessToken, RefreshToken, Connection]:
        """Create a connection directly (the control API's shortcut around the consent page)."""
        now = self.clock.timestamp()
        with self.lock:
            connection = Connection(uuid.uuid4().hex, client_id, realm_id, scope, now)
            self.connections[connection.id] = connection
            access, refresh = self._issue(connection, now)
        return access, refresh, connection

    def exchange_code(
        self, client_id: str, code: str | None, redirect_uri: str | None
    ) -> tuple[AccessToken, RefreshToken, Connection] | str:
        """Returns tokens, or an error_description string for invalid_grant."""
        now = self.clock.timestamp()
        with self.lock:
            record = self.codes.get(code or "")
            if record is None or record.client_id != client_id:
                return "Invalid authorization code"
            if record.used:
                # reuse of a code: reject, and revoke what the first exchange issued (RFC 6749 10.5)
                if record.connection_id and record.connection_id in self.connections:
                    self.connections[record.connection_id].revoked = True
                return "Authorization code has already been used"
            if now - record.issued_at > AUTH_CODE_TTL:
                return "Authorization code has expired"
            if redirect_uri != record.redirect_uri:
                return "redirect_uri does not match the authorization request"
            record.used = True
            connection = Connection(uuid.uuid4().hex, client_id, record.realm_id, record.scope, now)
            record.connection_id = connection.id
            self.connections[connection.id] = connection
            access, refresh = self._issue(connection, now)
            return access, refresh, connection

    def refresh(self, client_id: str, token: str | None) -> tuple[AccessToken, RefreshToken, Connection] | str:
        """Rotate on every refresh; the presented token becomes stale and keeps working for 24 h."""
        now = self.clock.timestamp()
        with self.lock:
            record = self.refresh_tokens.get(token or "")
            if record is None:
                return "Incorrect or invalid refresh token"
            connection = self.connections.get(record.connection_id)
            if connection is None or connection.revoked or connection.client_id != client_id:
                return "Incorrect or invalid refresh token"
            if now >= record.expires_at or now >= connection.created_at + HARD_EXPIRY:
                return "Incorrect or invalid refresh token"
            if record.stale_since is not None and now >= record.stale_since + REFRESH_GRACE:
                return "Incorrect or invalid refresh token"
            if record.stale_since is None:
                record.stale_since = now
            access, refresh = self._issue(connection, now)
            return access, refresh, connection

    def revoke_token(self, token: str) -> bool:
        """Revoke the grant a refresh or access token belongs to."""
        with self.lock:
            record: RefreshToken | AccessToken | None = self.refresh_tokens.get(token) or self.access_tokens.get(token)
            if record is None:
                return False
            connection = self.connections.get(record.connection_id)
            if connection is not None:
                connection.revoked = True
            return True

    def revoke_connections(self, realm_id: str | None = None, client_id: str | None = None) -> int:
        count = 0
        with self.lock:
            for connection in self.connections.values():
                if connection.revoked:
                    continue
                if realm_id and connection.realm_id != realm_id:
                    continue
                if client_id and connection.client_id != client_id:
                    continue
                connection.revoked = True
                count += 1
        return count

    def expire_access_tokens(self) -> int:
        now = self.clock.timestamp()
        with self.lock:
            count = 0
            for access in self.access_tokens.values():
                if access.expires_at > now:
                    access.expires_at = now - 1
                    count += 1
            return count

    def check_access(self, token: str | None) -> tuple[Connection | None, str]:
        """(connection, "") when valid, else (None, 3200 detail text)."""
        if not token:
            return None, "Token not provided"
        with self.lock:
            record = self.access_tokens.get(token)
            if record is None:
                if len(token) < 500 or len(token) > 2000:
                    return None, "Malformed bearer token: too short or too long"
                return None, "Token invalid"
            connection = self.connections.get(record.connection_id)
            if connection is None or connection.revoked:
                return None, f"Token revoked: {token[:50]}"
            if self.clock.timestamp() >= record.expires_at:
                return None, f"Token expired: {token[:50]}"
            return connection, ""


def _floats(record: dict[str, Any]) -> dict[str, Any]:
    return {key: float(value) if isinstance(value, Decimal) else value for key, value in record.items()}
