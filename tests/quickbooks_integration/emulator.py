"""Test helpers for the QBO emulator: start it in-process and drive its `/_emulator/` control API over HTTP.

Uses `qbo_emulator.testing.start_emulator` when it exists; until then, the same thing by hand (the emulator's
WSGI app on a werkzeug server in a thread). The control client speaks the documented HTTP control API, so the
tests do not depend on the helper's Python surface.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests


class Control:
    """The emulator's `/_emulator/` control API (faults, clock, tokens, request log)."""

    def __init__(self, url: str) -> None:
        self.base = f"{url}/_emulator"

    def _post(self, path: str, body: dict | None = None) -> Any:
        response = requests.post(f"{self.base}{path}", json=body or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("/reset")

    def fail_next(self, path: str, *, status: int, count: int = 1, method: str | None = None, **options) -> dict:
        return self._post(
            "/faults", {"kind": "fail", "path": path, "status": status, "count": count, "method": method, **options}
        )

    def delay_next(self, path: str, *, seconds: float, count: int = 1, method: str | None = None) -> dict:
        rule = {"kind": "delay", "path": path, "delay": seconds, "count": count, "method": method}
        return self._post("/faults", rule)

    def drop_next(self, path: str, *, count: int = 1, method: str | None = None) -> dict:
        return self._post("/faults", {"kind": "drop", "path": path, "count": count, "method": method})

    def expire_access_tokens(self) -> int:
        return self._post("/tokens/expire")["expired"]

    def revoke_connection(self, realm_id: str | None = None) -> Any:
        return self._post("/connections/revoke", {"realm_id": realm_id} if realm_id else {})

    def advance_clock(self, seconds: float) -> dict:
        return self._post("/clock/advance", {"seconds": seconds})

    def auto_approve(self, enabled: bool) -> None:
        self._post("/auto_approve", {"enabled": enabled})

    def requests(self, path_contains: str | None = None, method: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("path_contains", path_contains), ("method", method)) if v}
        response = requests.get(f"{self.base}/requests", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["requests"]

    def clear_requests(self) -> None:
        requests.delete(f"{self.base}/requests", timeout=10).raise_for_status()

    def count(self, path_contains: str, method: str | None = None) -> int:
        return len(self.requests(path_contains, method))

    def token_calls(self) -> int:
        return self.count("/oauth2/v1/tokens/bearer", "POST")


@dataclass
class Emulator:
    url: str
    realm_id: str
    client_id: str
    client_secret: str
    verifier_token: str
    control: Control
    stop: Any

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid_sandbox_configuration/"


def start() -> Emulator:
    try:
        from qbo_emulator.testing import start_emulator
    except ImportError:
        start_emulator = None
    if start_emulator is not None:
        handle = start_emulator(seed="sandbox")
        return Emulator(
            url=handle.url.rstrip("/"),
            realm_id=handle.realm_id,
            client_id=handle.client_id,
            client_secret=handle.client_secret,
            verifier_token=handle.verifier_token,
            control=Control(handle.url.rstrip("/")),
            stop=handle.stop,
        )
    from werkzeug.serving import WSGIRequestHandler, make_server

    from qbo_emulator.app import EmulatorApp
    from qbo_emulator.loader import load_seed_data

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = EmulatorApp([load_seed_data("sandbox")])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"

    def stop() -> None:
        server.shutdown()
        app.close()

    return Emulator(
        url=url,
        realm_id=app.realm_order[0],
        client_id=app.client_id,
        client_secret=app.client_secret,
        verifier_token=app.verifier_token,
        control=Control(url),
        stop=stop,
    )
