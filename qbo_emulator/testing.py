"""Test helper: start_emulator() serves the emulator on a free port in a thread; Control wraps /_emulator/.

Usage (what a downstream test suite needs)::

    import os
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"          # python-quickbooks over http://
    emu = start_emulator(seed="sandbox")                        # or seed="demo", customers=5000, auto_approve=True
    auth = AuthClient(emu.client_id, emu.client_secret, "http://localhost:8000/callback", emu.discovery_url)
    callback = emu.approve(auth.get_authorization_url([Scopes.ACCOUNTING]))   # {"code", "state", "realmId"}
    auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    qb = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=emu.realm_id,
                    minorversion=75, use_decimal=True)
    qb.api_url_v3 = emu.api_url                                 # environment is a URL, so the "production" attribute
    emu.control.reset()                                         # per test
    emu.control.fail_next("/customer$", status=500, method="POST")
    emu.stop()
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from . import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_VERIFIER_TOKEN
from .app import EmulatorApp
from .loader import load_seed_data


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ControlError(RuntimeError):
    """The control API answered with an error."""


class Control:
    """A small client of the JSON control API under <url>/_emulator/."""

    def __init__(self, url: str) -> None:
        self.base = url.rstrip("/") + "/_emulator"

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
    ) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec B310 (the emulator URL given by the test)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ControlError(f"{method} {path}: {exc.code} {exc.read().decode('utf-8', 'replace')}") from exc

    # -- state
    def info(self) -> dict[str, Any]:
        """Realms, client id/secret, verifier token, clock offset, limits."""
        return self._call("GET", "/info")

    def reset(self) -> None:
        """Back to the seed: data, tokens and connections, faults, limits, request log, clock offset, auto-approve,
        webhook queue and config."""
        self._call("POST", "/reset")

    def save_state(self, path: str | None = None) -> str:
        return self._call("POST", "/state/save", {"path": path} if path else {})["saved"]

    # -- fault injection
    def fail_next(
        self,
        path_pattern: str,
        status: int = 500,
        count: int = 1,
        *,
        code: str | int | None = None,
        message: str | None = None,
        detail: str | None = None,
        body: str | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: int | None = None,
        method: str | None = None,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        """The next `count` requests whose path matches the regex `path_pattern` get `status` without being executed.

        Default bodies: 500 -> Fault SystemFault 10000; 502/503/504 -> an HTML proxy page; 401 -> the lower-case
        3200 envelope with WWW-Authenticate; 403 -> the 3100 body; 429 -> the XML ThrottleExceeded body;
        400 with `code` -> a ValidationFault.
        `body` (+ `content_type`) overrides the body. Returns the rule (with its `id`)."""
        return self._call(
            "POST",
            "/faults",
            {
                "kind": "fail",
                "path_pattern": path_pattern,
                "status": status,
                "count": count,
                "code": None if code is None else str(code),
                "message": message,
                "detail": detail,
                "body": body,
                "content_type": content_type,
                "headers": headers or {},
                "retry_after": retry_after,
                "method": method,
                "delay": delay,
            },
        )

    def delay_next(
        self, path_pattern: str, seconds: float, count: int = 1, *, method: str | None = None
    ) -> dict[str, Any]:
        """The next `count` matching requests are answered normally after sleeping `seconds`."""
        return self._call(
            "POST",
            "/faults",
            {"kind": "delay", "path_pattern": path_pattern, "delay": seconds, "count": count, "method": method},
        )

    def drop_response_next(
        self, path_pattern: str, count: int = 1, *, mode: str = "close", method: str | None = None
    ) -> dict[str, Any]:
        """Commit then drop: the next `count` matching requests are executed (and cached for requestid replay), then the
        connection is closed without a reply (mode "close": the client sees a ConnectionError), or a 500 SystemFault is
        returned (mode "500")."""
        return self._call(
            "POST",
            "/faults",
            {"kind": "drop", "path_pattern": path_pattern, "count": count, "drop_mode": mode, "method": method},
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def throttle(
        self,
        *,
        per_minute: int | None = None,
        concurrent: int | None = None,
        batch_per_minute: int | None = None,
        retry_after: int | None | str = "unchanged",
    ) -> dict[str, Any]:
        """Change the per-realm limits (defaults 500/min, 10 concurrent, 40 batch/min; no Retry-After). Returns them."""
        body: dict[str, Any] = {
            "per_minute": per_minute,
            "concurrent": concurrent,
            "batch_per_minute": batch_per_minute,
        }
        if retry_after != "unchanged":
            body["retry_after"] = retry_after
        return self._call("POST", "/throttle", body)

    # -- OAuth
    def issue_tokens(self, realm_id: str | None = None, client_id: str | None = None) -> dict[str, Any]:
        """A connection without the consent page: the token endpoint's JSON plus `realm_id`."""
        return self._call("POST", "/tokens", {"realm_id": realm_id, "client_id": client_id})

    def expire_access_tokens(self) -> int:
        """Every access token issued so far expires now (API calls then get 401/3200). Returns how many."""
        return self._call("POST", "/tokens/expire")["expired"]

    def revoke_connection(self, realm_id: str | None = None, client_id: str | None = None) -> int:
        """Revoke connections (all, or of a realm/client): refresh -> invalid_grant, API -> 401. Returns how many."""
        return self._call("POST", "/connections/revoke", {"realm_id": realm_id, "client_id": client_id})["revoked"]

    def register_redirect_uris(self, *uris: str) -> list[str]:
        """Register redirect URIs for the client (the authorize page matches them exactly); returns all registered."""
        return self._call("POST", "/redirect_uris", {"uris": list(uris)})["redirect_uris"]

    def set_auto_approve(self, enabled: bool) -> None:
        self._call("POST", "/auto_approve", {"enabled": enabled})

    # -- clock
    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator clock forward (tokens, auth codes, CDC windows, MetaData, throttle windows use it)."""
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "/clock")

    # -- webhooks
    def configure_webhooks(self, **options: Any) -> dict[str, Any]:
        """Options: url, verifier_token, format ("legacy"|"cloudevents"), enabled,
        max_events (per delivery, default 100),
        interval (background sweep seconds, None = only flush), aggregate, duplicate_next (N deliveries sent twice),
        reorder_next (N deliveries with their events reversed)."""
        return self._call("POST", "/webhooks", options)

    def flush_webhooks(self) -> list[dict[str, Any]]:
        """Deliver every pending event now, synchronously, in order; stops at the first non-200 (kept for retry).
        Returns one record per HTTP delivery: status, statuses (two when duplicated), ok, error, events, body,
        headers, attempt."""
        return self._call("POST", "/webhooks/flush")["deliveries"]

    def webhooks(self) -> dict[str, Any]:
        """Config, pending event count, queued deliveries and the delivery history."""
        return self._call("GET", "/webhooks")

    # -- observation
    def requests(self, path_contains: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Requests seen (not the control API's): seq, time, method, path, query (dict), status, realm_id, outcome
        (ok | injected | throttled | dropped | replayed)."""
        return self._call("GET", "/requests", query={"path_contains": path_contains, "method": method})["requests"]

    def count(self, path_contains: str | None = None, method: str | None = None) -> int:
        return len(self.requests(path_contains, method))

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def token_calls(self) -> int:
        """Calls to the OAuth token endpoint: code exchanges plus refreshes."""
        return self.count("/oauth2/v1/tokens/bearer", "POST")

    def changes(self, realm_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/changes", query={"realm_id": realm_id})["changes"]

    def emails(self, realm_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/emails", query={"realm_id": realm_id})["emails"]


@dataclass
class RunningEmulator:
    url: str
    app: EmulatorApp
    server: Any
    thread: threading.Thread
    realm_id: str
    realm_ids: list[str]
    client_id: str
    client_secret: str
    verifier_token: str
    control: Control = field(init=False)

    def __post_init__(self) -> None:
        self.control = Control(self.url)

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid_sandbox_configuration/"

    @property
    def api_url(self) -> str:
        """The value for QuickBooks.api_url_v3 / sandbox_api_url_v3."""
        return f"{self.url}/v3"

    def approve(self, authorize_url: str, *, decision: str = "connect", realm_id: str | None = None) -> dict[str, str]:
        """Act as the user on the consent page.

        Returns the callback's query parameters (code/state/realmId, or error/state)."""
        parsed = urllib.parse.urlparse(authorize_url)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        params["decision"] = decision
        if realm_id:
            params["realmId"] = realm_id
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/connect/oauth2", data=data, method="POST")  # noqa: S310

        class _NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            if exc.code == 302:
                location = exc.headers["Location"]
                return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
            raise
        raise ControlError("the authorize page did not redirect")

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.app.close()
        self.server.server_close()


def start_emulator(
    *,
    seed: str = "sandbox",
    customers: int | None = None,
    seed_data: list[dict[str, Any]] | dict[str, Any] | None = None,
    auto_approve: bool = False,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    verifier_token: str = DEFAULT_VERIFIER_TOKEN,
    webhook_url: str | None = None,
    webhook_format: str = "legacy",
    webhook_interval: float | None = None,
    state_file: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    redirect_uris: list[str] | tuple[str, ...] = (),
) -> RunningEmulator:
    """Start an emulator in this process (threaded Werkzeug server, background thread) and return a handle.

    `seed_data` (one seed dict or a list) bypasses qbo_emulator.seeds. Webhooks are delivered only on flush unless
    `webhook_interval` is set (seconds between background sweeps)."""
    if seed_data is None:
        seeds = [load_seed_data(seed, customers=customers)]
    elif isinstance(seed_data, dict):
        seeds = [seed_data]
    else:
        seeds = list(seed_data)
    app = EmulatorApp(
        seeds,
        client_id=client_id,
        client_secret=client_secret,
        verifier_token=verifier_token,
        auto_approve=auto_approve,
        webhook_url=webhook_url,
        webhook_format=webhook_format,
        webhook_interval=webhook_interval,
        state_file=state_file,
        redirect_uris=redirect_uris,
    )
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    actual_port = server.socket.getsockname()[1]
    url = f"http://{host}:{actual_port}"
    thread = threading.Thread(target=server.serve_forever, name=f"qbo-emulator-{actual_port}", daemon=True)
    thread.start()
    return RunningEmulator(
        url=url,
        app=app,
        server=server,
        thread=thread,
        realm_id=app.realm_order[0],
        realm_ids=list(app.realm_order),
        client_id=client_id,
        client_secret=client_secret,
        verifier_token=verifier_token,
    )
