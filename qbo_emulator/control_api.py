"""The /_emulator/ control API (JSON): reset, faults, throttling, tokens, clock, webhooks, request log, state.

Endpoints (JSON in, JSON out; POST bodies optional unless noted):
    GET    /_emulator/info                 url, discovery_url, realms, realm_id, client_id/secret, verifier_token,
                                            clock_offset, now, limits, auto_approve
    POST   /_emulator/reset                back to the seed: data, tokens, faults, limits, request log, clock, webhooks
    POST   /_emulator/faults               {kind: fail|delay|drop, path_pattern (regex), count=1, method, status=500,
                                            code, message, detail, body, content_type, headers, retry_after, delay,
                                            drop_mode}
    GET    /_emulator/faults               {"faults": [...]};   DELETE /_emulator/faults clears them
    POST   /_emulator/throttle             {per_minute, concurrent, batch_per_minute, retry_after} -> the limits
    POST   /_emulator/tokens               {realm_id?, client_id?} -> a token response + realm_id (no consent page)
    POST   /_emulator/tokens/expire        -> {"expired": n}
    POST   /_emulator/connections/revoke   {realm_id?, client_id?} -> {"revoked": n}
    POST   /_emulator/clock/advance        {seconds} -> {"offset", "now"};   GET /_emulator/clock
    POST   /_emulator/auto_approve         {enabled}
    GET    /_emulator/webhooks             config, pending_events, queued_deliveries, history
    POST   /_emulator/webhooks             {url, verifier_token, format, enabled, max_events, interval, aggregate,
                                            duplicate_next, reorder_next} -> config
    POST   /_emulator/webhooks/flush       -> {"deliveries": [...]}
    GET    /_emulator/requests?path_contains=&method=   -> {"requests": [...]};   DELETE clears
    GET    /_emulator/changes?realm_id=    the change log;   GET /_emulator/emails?realm_id= the sends
    POST   /_emulator/state/save           {path?} -> {"saved": path}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from .wire import dumps, loads

if TYPE_CHECKING:
    from .app import EmulatorApp


def _ok(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _ok({"error": message}, status)


def _opt_float(value: Any) -> float | None:
    return None if value in (None, 0) else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def handle_control(app: EmulatorApp, request: Request) -> Response:
    path = request.path[len("/_emulator") :].rstrip("/") or "/"
    method = request.method
    try:
        options: dict[str, Any] = loads(request.get_data()) if request.get_data().strip() else {}
    except ValueError:
        return _error("body must be JSON")
    if not isinstance(options, dict):
        return _error("body must be a JSON object")
    base = request.host_url.rstrip("/")
    try:
        return _route(app, path, method, options, request, base)
    except (ValueError, TypeError, KeyError) as exc:
        return _error(f"{type(exc).__name__}: {exc}")


def _route(app: EmulatorApp, path: str, method: str, options: dict[str, Any], request: Request, base: str) -> Response:
    from .app import limits_update

    if path in ("/", "/info") and method == "GET":
        return _ok(app.info(base))
    if path == "/reset" and method == "POST":
        app.reset()
        return _ok({"reset": True})
    if path == "/faults":
        if method == "POST":
            rule = app.faults.add(**options)
            return _ok(rule.public())
        if method == "GET":
            return _ok({"faults": app.faults.list()})
        if method == "DELETE":
            app.faults.clear()
            return _ok({"faults": []})
    if path == "/throttle" and method == "POST":
        return _ok(vars(limits_update(app.limiter, options)))
    if path == "/tokens" and method == "POST":
        realm_id = options.get("realm_id") or app.realm_order[0]
        if realm_id not in app.store.realms:
            return _error(f"unknown realm {realm_id}", 404)
        client_id = options.get("client_id") or app.client_id
        access, refresh, connection = app.oauth.connect(client_id, realm_id)
        body = app.oauth.token_response(access, refresh, connection, hard=True)
        body["realm_id"] = realm_id
        return _ok(body)
    if path == "/tokens/expire" and method == "POST":
        return _ok({"expired": app.oauth.expire_access_tokens()})
    if path == "/connections/revoke" and method == "POST":
        return _ok({"revoked": app.oauth.revoke_connections(options.get("realm_id"), options.get("client_id"))})
    if path == "/clock":
        if method == "POST":
            app.clock.advance(float(options.get("seconds", 0)))
        return _ok({"offset": app.clock.offset, "now": app.info(base)["now"]})
    if path == "/clock/advance" and method == "POST":
        app.clock.advance(float(options.get("seconds", 0)))
        return _ok({"offset": app.clock.offset, "now": app.info(base)["now"]})
    if path == "/redirect_uris":  # register redirect URIs for the client (exact match on the authorize page)
        if method == "POST":
            app.redirect_uris.update(str(uri) for uri in options.get("uris", []))
        return _ok({"redirect_uris": sorted(app.redirect_uris)})
    if path == "/auto_approve" and method == "POST":
        app.auto_approve = bool(options.get("enabled", True))
        return _ok({"auto_approve": app.auto_approve})
    if path == "/webhooks":
        if method == "GET":
            return _ok(app.webhooks.status())
        if method == "POST":
            config = app.webhooks.config
            casts = {
                "url": _opt_str,
                "verifier_token": str,
                "format": str,
                "enabled": bool,
                "max_events": int,
                "interval": _opt_float,
                "aggregate": float,
                "duplicate_next": int,
                "reorder_next": int,
            }
            for key, cast in casts.items():
                if key in options:
                    setattr(config, key, cast(options[key]))
            if config.format not in ("legacy", "cloudevents"):
                config.format = "legacy"
                return _error("format must be legacy or cloudevents")
            return _ok(app.webhooks.status()["config"])
    if path == "/webhooks/flush" and method == "POST":
        return _ok({"deliveries": app.webhooks.flush()})
    if path == "/requests":
        if method == "GET":
            return _ok(
                {
                    "requests": app.log.find(
                        path_contains=request.args.get("path_contains"), method=request.args.get("method")
                    )
                }
            )
        if method == "DELETE":
            app.log.clear()
            return _ok({"requests": []})
    if path == "/changes" and method == "GET":
        realm_id = request.args.get("realm_id") or app.realm_order[0]
        realm = app.store.realms[realm_id]
        with realm.lock:
            changes = [
                {
                    "seq": c.seq,
                    "time": c.time.isoformat(),
                    "entity": c.entity,
                    "id": c.id,
                    "op": c.op,
                    "webhook": c.webhook,
                }
                for c in realm.changes
            ]
        return _ok({"changes": changes})
    if path == "/emails" and method == "GET":
        realm_id = request.args.get("realm_id") or app.realm_order[0]
        return _ok({"emails": list(app.store.realms[realm_id].sent_emails)})
    if path == "/state/save" and method == "POST":
        return _ok({"saved": app.save_state(options.get("path"))})
    return _error(f"unknown control endpoint {method} {path}", 404)
