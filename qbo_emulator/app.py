"""The WSGI app: routing for OAuth, the /v3 API (auth, throttling, injected faults, requestid replay), /_emulator/."""

from __future__ import annotations

import contextlib
import html
import os
import socket
import threading
import time
import urllib.parse
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from . import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_VERIFIER_TOKEN, minorversions
from .batch import run_batch
from .cdc import cdc
from .clock import Clock, response_time
from .company import Company
from .control import FaultInjector, FaultRule, RequestLog
from .facts import URL_NAMES
from .faults import (
    WWW_AUTHENTICATE,
    Fault,
    auth_failure_body,
    authorization_failure_body,
    fault,
    fault_body,
    proxy_error_html,
    system_fault,
    throttle_xml,
)
from .idtoken import id_token, jwks
from .limits import Limiter, Limits
from .loader import export_realm, import_realm, load_realm
from .oauth import OAuthServer
from .pdf import sales_form_pdf
from .store import RealmState, Store
from .values import public
from .webhooks import Dispatcher, WebhookConfig
from .wire import dumps, loads

JSON_TYPE = "application/json;charset=utf-8"


class _Dropped(Exception):
    """Raised after the socket was closed on purpose (drop-after-commit)."""


class EmulatorApp:
    """One emulator instance. Thread-safe: each realm has a lock, OAuth/limits/faults have their own."""

    def __init__(
        self,
        seeds: list[dict[str, Any]],
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        verifier_token: str = DEFAULT_VERIFIER_TOKEN,
        auto_approve: bool = False,
        webhook_url: str | None = None,
        webhook_format: str = "legacy",
        webhook_interval: float | None = 1.0,
        state_file: str | None = None,
        redirect_uris: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.clock = Clock()
        self.redirect_uris: set[str] = set(redirect_uris)  # registered for the client, matched exactly
        self.redirect_uris_default = frozenset(self.redirect_uris)
        self.store = Store()
        self.oauth = OAuthServer(self.clock, clients={client_id: client_secret})
        self.client_id = client_id
        self.client_secret = client_secret
        self.verifier_token = verifier_token
        self.auto_approve = auto_approve
        self.auto_approve_default = auto_approve
        self.limiter = Limiter(self.clock)
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.webhook_defaults = WebhookConfig(
            url=webhook_url, verifier_token=verifier_token, format=webhook_format, interval=webhook_interval
        )
        self.webhooks = Dispatcher(self.clock, WebhookConfig(**vars(self.webhook_defaults)))
        self.store.listeners.append(self.webhooks.on_change)
        self.state_file = state_file
        self.realm_order: list[str] = []
        for seed in seeds:
            realm = load_realm(self.store, seed, self.clock)
            self.store.realms[realm.realm_id] = realm
            self.realm_order.append(realm.realm_id)
        self.store.take_snapshot()
        if state_file:
            self.load_state(state_file, missing_ok=True)
        self._autosave: threading.Thread | None = None
        self._autosave_stop = threading.Event()
        self.webhooks.start()

    # ================================================================== WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except _Dropped:
            response = Response(b"", status=200)
        except HTTPException as exc:
            response = exc.get_response()
        response.headers.setdefault("intuit_tid", f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")
        return response(environ, start_response)

    def host_url(self, request: Request) -> str:
        return request.host_url.rstrip("/")

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_emulator/") or path == "/_emulator":
            return self.control(request)
        if path.startswith("/.well-known/openid"):
            return self._json(self.discovery(self.host_url(request)))
        if path.startswith("/v3/company/"):
            return self.api(request)
        if path == "/op/v1/jwks":
            return self._json(jwks())
        if path in (
            "/connect/oauth2",
            "/oauth2/v1/tokens/bearer",
            "/oauth2/v1/tokens/revoke",
            "/v1/openid_connect/userinfo",
        ):
            return self.oauth_route(request)
        if path == "/":
            return Response(self._index_html(request), content_type="text/html; charset=utf-8")
        return Response("Not Found", status=404)

    # ================================================================== helpers
    def _json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        response = Response(dumps(body), status=status, content_type=JSON_TYPE)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def discovery(self, base: str) -> dict[str, Any]:
        return {
            "issuer": f"{base}/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }

    def _index_html(self, request: Request) -> str:
        base = self.host_url(request)
        realms = "".join(
            f"<li>{html.escape(r.company_name)}: realm {r.realm_id}</li>" for r in self.store.realms.values()
        )
        return (
            f"<html><body><h1>QuickBooks Online emulator</h1><ul>{realms}</ul>"
            f"<p>Discovery: {base}/.well-known/openid_sandbox_configuration/</p></body></html>"
        )

    def _record(self, request: Request, realm_id: str | None = None) -> Any:
        query = {k: v for k, v in request.args.items()}
        return self.log.add(response_time(self.clock.now()), request.method, request.path, query, realm_id)

    # ================================================================== OAuth
    def oauth_route(self, request: Request) -> Response:
        record = self._record(request)
        response = self._with_rules(request, record, lambda: self._oauth_inner(request))
        record.status = response.status_code
        return response

    def _with_rules(self, request: Request, record: Any, run: Any) -> Response:
        """Apply injected delay/fail/drop rules around a handler that commits its effect."""
        rules = {rule.kind: rule for rule in self.faults.take(request.method, request.path)}
        if "fail" in rules:
            record.outcome = "injected"
            _sleep(rules["fail"].delay)
            return self._injected(rules["fail"])
        response = run()
        _sleep(rules["delay"].delay if "delay" in rules else 0)
        if "drop" in rules:
            record.outcome = "dropped"
            return self._drop(request, rules["drop"])
        return response

    def _oauth_inner(self, request: Request) -> Response:
        path = request.path
        if path == "/connect/oauth2":
            return self.authorize(request)
        if path == "/oauth2/v1/tokens/bearer":
            return self.token(request)
        if path == "/oauth2/v1/tokens/revoke":
            return self.revoke(request)
        return self.userinfo(request)

    def authorize(self, request: Request) -> Response:
        params = request.values
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        state = params.get("state", "")
        scope = params.get("scope", "")
        if client_id not in self.oauth.clients:
            return Response(
                "<html><body><h1>Invalid client_id</h1></body></html>", status=400, content_type="text/html"
            )
        if not self.redirect_allowed(redirect_uri):
            return Response(  # Intuit shows an error page and never redirects to an unregistered URI
                "<html><body><h1>Invalid redirect_uri</h1><p>The redirect_uri query parameter value is invalid. "
                "Make sure it is listed in the Redirect URIs section on your app's keys tab and matches it exactly."
                "</p></body></html>",
                status=400,
                content_type="text/html",
            )
        if params.get("response_type") != "code" or not scope:
            return self._redirect(redirect_uri, {"error": "invalid_request", "state": state})
        if not self.store.realms:
            return Response(
                "<html><body><h1>No company available</h1></body></html>", status=400, content_type="text/html"
            )
        realm_id = params.get("realmId") or params.get("realm_id") or self.realm_order[0]
        if realm_id not in self.store.realms:
            return Response("<html><body><h1>Unknown company</h1></body></html>", status=400, content_type="text/html")
        decision = params.get("decision") if request.method == "POST" else ("connect" if self.auto_approve else None)
        if decision == "connect":
            code = self.oauth.issue_code(client_id, realm_id, redirect_uri, scope)
            return self._redirect(redirect_uri, {"code": code, "state": state, "realmId": realm_id})
        if decision == "cancel":
            return self._redirect(redirect_uri, {"error": "access_denied", "state": state})
        options = "".join(
            f'<option value="{html.escape(r.realm_id)}"{" selected" if r.realm_id == realm_id else ""}>'
            f"{html.escape(r.company_name)} ({html.escape(r.realm_id)})</option>"
            for r in self.store.realms.values()
        )
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in (
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("scope", scope),
                ("response_type", "code"),
            )
        )
        page = f"""<!doctype html><html><head><title>Connect to QuickBooks (emulator)</title></head><body>
<h1>Connect your QuickBooks company</h1>
<p>The app <strong>{html.escape(client_id)}</strong> wants access to: {html.escape(scope)}</p>
<form method="post" action="/connect/oauth2">{hidden}
<label>Company <select name="realmId">{options}</select></label>
<p>Company: <strong id="company">{html.escape(self.store.realms[realm_id].company_name)}</strong></p>
<button type="submit" name="decision" value="connect" id="connect">Connect</button>
<button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</form></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def redirect_allowed(self, uri: str) -> bool:
        """Exact match against the registered URIs; besides them, http(s) URIs on a loopback host or Django's
        ``testserver`` (the demo, the test client, live_server) are accepted, so no caller has to register first.
        Anything else (``https://evil.example/cb``) gets the error page, as Intuit's own authorize page does."""
        if uri in self.redirect_uris:
            return True
        parts = urllib.parse.urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in _LOCAL_HOSTS and not parts.fragment

    def _redirect(self, uri: str, params: dict[str, str]) -> Response:
        separator = "&" if "?" in uri else "?"
        return Response("", status=302, headers={"Location": uri + separator + urllib.parse.urlencode(params)})

    def _token_error(self, error: str, description: str | None = None, status: int = 400) -> Response:
        body: dict[str, str] = {}
        if description:
            body["error_description"] = description
        body["error"] = error
        return self._json(body, status=status)

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("Method Not Allowed", status=405)
        form = request.form.to_dict()
        client_id = self.oauth.authenticate_client(request.headers.get("Authorization"), form)
        if client_id is None:
            return self._token_error("invalid_client", status=401)
        hard = str(request.headers.get("x-include-refresh-token-hard-expires-in", "")).lower() == "true"
        grant = form.get("grant_type")
        if grant == "authorization_code":
            result = self.oauth.exchange_code(client_id, form.get("code"), form.get("redirect_uri"))
            if isinstance(result, str):
                return self._token_error("invalid_grant")
        elif grant == "refresh_token":
            result = self.oauth.refresh(client_id, form.get("refresh_token"))
            if isinstance(result, str):
                return self._token_error("invalid_grant", "Incorrect or invalid refresh token")
        else:
            return self._token_error("unsupported_grant_type")
        access, refresh, connection = result
        body = self.oauth.token_response(access, refresh, connection, hard=hard)
        if grant == "authorization_code" and "openid" in connection.scope.split():
            body["id_token"] = id_token(
                issuer=f"{self.host_url(request)}/op/v1",
                client_id=client_id,
                realm_id=connection.realm_id,
                subject=_subject(connection.realm_id),
                now=self.clock.timestamp(),
            )
        return self._json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def revoke(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("Method Not Allowed", status=405)
        try:
            payload = loads(request.get_data() or b"{}")
        except ValueError:
            payload = request.form.to_dict()
        if not isinstance(payload, dict):
            payload = {}
        client_id = self.oauth.authenticate_client(request.headers.get("Authorization"), request.form.to_dict())
        if client_id is None:
            return self._token_error("invalid_client", status=401)
        token = payload.get("token") or request.form.get("token")
        if not token:
            return self._token_error("invalid_request", "token is required")
        self.oauth.revoke_token(str(token))
        return Response(b"", status=200)

    def userinfo(self, request: Request) -> Response:
        token = _bearer(request)
        connection, detail = self.oauth.check_access(token)
        if connection is None:
            return self._json(
                {"error": "invalid_token", "error_description": detail},
                status=401,
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        realm = self.store.realms.get(connection.realm_id)
        return self._json(
            {
                "sub": _subject(connection.realm_id),
                "email": "emulator.user@example.com",
                "emailVerified": True,
                "givenName": "Emulator",
                "familyName": "User",
                "phoneNumber": "+1 5555555555",
                "phoneNumberVerified": False,
                "realmId": connection.realm_id,
                "companyName": realm.company_name if realm else "",
            }
        )

    # ================================================================== API
    def api(self, request: Request) -> Response:
        parts = request.path.split("/")  # ['', 'v3', 'company', realm, ...]
        realm_id = parts[3] if len(parts) > 3 else ""
        rest = [p for p in parts[4:]]
        record = self._record(request, realm_id)
        is_batch = len(rest) == 1 and rest[0].lower() == "batch"
        if not self.limiter.enter(realm_id, is_batch=is_batch):
            record.outcome = "throttled"
            record.status = 429
            return self._throttled()
        try:
            rules = {rule.kind: rule for rule in self.faults.take(request.method, request.path)}
            if "fail" in rules:
                record.outcome = "injected"
                _sleep(rules["fail"].delay)
                response = self._injected(rules["fail"])
            else:
                # executed (and cached for requestid replay) first; a delay slows the answer, a drop loses it
                response = self._api_authorized(request, realm_id, rest, record)
                _sleep(rules["delay"].delay if "delay" in rules else 0)
                if "drop" in rules:
                    record.outcome = "dropped"
                    record.status = None
                    return self._drop(request, rules["drop"])
            record.status = response.status_code
            return response
        finally:
            self.limiter.leave(realm_id)

    def _throttled(self) -> Response:
        headers = {}
        if self.limiter.limits.retry_after is not None:
            headers["Retry-After"] = str(self.limiter.limits.retry_after)
        return Response(throttle_xml(self.clock.now()), status=429, content_type="application/xml", headers=headers)

    def _auth_401(self, detail: str) -> Response:
        return self._json(
            auth_failure_body(detail, self.clock.now()), status=401, headers={"WWW-Authenticate": WWW_AUTHENTICATE}
        )

    def _api_authorized(self, request: Request, realm_id: str, rest: list[str], record: Any) -> Response:
        connection, detail = self.oauth.check_access(_bearer(request))
        if connection is None:
            return self._auth_401(detail)
        realm = self.store.realms.get(realm_id)
        if connection.realm_id != realm_id or realm is None:
            return self._json(authorization_failure_body(), status=403)
        request_id = request.args.get("requestid")
        if request_id is not None and len(request_id) > 50:
            return self._json(
                fault_body(
                    fault("6000", "requestid must be at most 50 characters.", element="requestid"), self.clock.now()
                ),
                status=400,
            )
        with realm.lock:
            if request_id:
                cached = realm.replay.get(request_id)
                if cached is not None:
                    record.outcome = "replayed"
                    status, headers, body = cached
                    return Response(body, status=status, headers=headers)
            try:
                response = self._api_route(request, realm, rest)
            except Fault as exc:
                response = self._json(fault_body(exc, self.clock.now()), status=exc.status)
            except HTTPException:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug becomes QBO's SystemFault, not a dead connection
                response = self._json(
                    fault_body(system_fault(f"{type(exc).__name__}: {exc}"), self.clock.now()), status=500
                )
            if request_id:
                realm.replay[request_id] = (response.status_code, list(response.headers.items()), response.get_data())
        return response

    def _unsupported(self, request: Request) -> Fault:
        return fault(
            "500",
            f"Operation Could not find resource for relative : {request.path} of full path: {request.url}"
            " is not supported.",
            raw_detail=True,
            message="Unsupported Operation",
        )

    def _api_route(self, request: Request, realm: RealmState, rest: list[str]) -> Response:
        method = request.method
        now = self.clock.now()
        company = Company(self.store, realm, now)
        version = minorversions.effective(request.args.get("minorversion"), now.date())
        if not rest or not rest[0]:
            raise self._unsupported(request)
        head = rest[0].lower()
        if head == "query" and len(rest) == 1 and method in ("GET", "POST"):
            sql = request.args.get("query") if method == "GET" else request.get_data(as_text=True)
            if method == "POST" and not sql and request.form.get("query"):
                sql = request.form.get("query")
            return self._json(minorversions.shape(self._query(realm, sql or "", now), version))
        if head == "cdc" and len(rest) == 1 and method == "GET":
            changes = cdc(realm, request.args.get("entities"), request.args.get("changedSince"), now)
            return self._json(minorversions.shape(changes, version))
        if head == "batch" and len(rest) == 1 and method == "POST":
            body = self._body(request)
            items = run_batch(
                body,
                lambda entity, op, payload: self._write(company, entity, op, payload, None),
                lambda sql: {k: v for k, v in self._query(realm, sql, now).items() if k != "time"},
            )
            return self._json(minorversions.shape({"BatchItemResponse": items, "time": response_time(now)}, version))
        entity = URL_NAMES.get(head)
        if entity is None:
            raise self._unsupported(request)
        if entity == "Preferences" and len(rest) == 1 and method == "GET":
            return self._entity_response(entity, company.singleton("Preferences"), now, version)
        if len(rest) == 1 and method == "POST":
            body = self._body(request)
            operation = (request.args.get("operation") or "").lower()
            include = (request.args.get("include") or "").lower()
            result = self._write(company, entity, operation, body, include)
            return self._entity_response(entity, result, now, version)
        if len(rest) == 2 and method == "GET":
            if entity == "CompanyInfo":
                info = company.singleton("CompanyInfo")
                if rest[1] not in (realm.realm_id, info.get("Id")):
                    if not rest[1].isdigit():
                        raise fault("2030", rest[1], element="Id")
                    raise fault("610")
                return self._entity_response(entity, info, now, version)
            return self._entity_response(entity, company.read(entity, rest[1]), now, version)
        if len(rest) == 3 and rest[2].lower() == "send" and method == "POST":
            send_to = request.args.get("sendTo")
            return self._entity_response(entity, company.send(entity, rest[1], send_to), now, version)
        if len(rest) == 3 and rest[2].lower() == "pdf" and method == "GET":
            if entity not in ("Invoice", "Estimate"):
                raise self._unsupported(request)
            obj = company.read(entity, rest[1])
            return Response(sales_form_pdf(entity, obj, realm.company_name), content_type="application/pdf")
        raise self._unsupported(request)

    def _entity_response(self, entity: str, obj: dict[str, Any], now: Any, version: int) -> Response:
        return self._json(minorversions.shape({entity: public(obj), "time": response_time(now)}, version))

    def _body(self, request: Request) -> Any:
        data = request.get_data()
        if not data.strip():
            raise fault("2020", "request body", element="body")
        try:
            return loads(data)
        except ValueError as exc:
            raise fault("2010", f"Request body is not valid JSON: {exc}", raw_detail=False) from exc

    def _write(self, company: Company, entity: str, operation: str, body: Any, include: str | None) -> dict[str, Any]:
        if operation == "delete":
            return company.delete(entity, body)
        if operation == "void" or (operation == "update" and include == "void"):
            return company.void(entity, body)
        if operation in ("", "create", "update"):
            has_id = isinstance(body, dict) and body.get("Id") not in (None, "", 0, "0")
            if operation == "create" or (operation == "" and not has_id):
                return company.create(entity, body)
            return company.update(entity, body)
        raise fault("2170", f"operation {operation}", element="operation")

    def _query(self, realm: RealmState, sql: str, now: Any) -> dict[str, Any]:
        from . import query as query_module

        def rows_for(entity: str) -> list[dict[str, Any]]:
            return list(realm.table(entity).values())

        try:
            result = query_module.run_query(sql, rows_for, now=now, cached_order=realm.in_order)
        except query_module.QueryError as exc:
            raise Fault(400, exc.code, exc.message, exc.detail, element=exc.element) from exc
        if "time" not in result:
            result = {**result, "time": response_time(now)}
        return result

    # ================================================================== injected faults
    def _injected(self, rule: FaultRule) -> Response:
        headers = dict(rule.headers)
        if rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        now = self.clock.now()
        if rule.body is not None:
            return Response(rule.body, status=rule.status, content_type=rule.content_type or JSON_TYPE, headers=headers)
        status = rule.status
        if status == 429:
            return Response(throttle_xml(now), status=429, content_type="application/xml", headers=headers)
        if status == 401:
            headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
            return self._json(
                auth_failure_body(rule.detail or "Token expired: injected", now), status=401, headers=headers
            )
        if status == 403 and (rule.code in (None, "3100")):
            return self._json(authorization_failure_body(), status=403, headers=headers)
        if status in (502, 503, 504) and rule.code is None:
            return Response(proxy_error_html(status), status=status, content_type="text/html", headers=headers)
        if status >= 500 and rule.code is None:
            err = system_fault(rule.detail or "An application error has occurred.")
            err.status = status
        else:
            code = rule.code or ("10000" if status >= 500 else "6000")
            err = fault(
                code,
                rule.detail or "injected fault",
                status=status,
                message=rule.message,
                fault_type="SystemFault" if status >= 500 else "ValidationFault",
            )
        return self._json(fault_body(err, now), status=status, headers=headers)

    def _drop(self, request: Request, rule: FaultRule) -> Response:
        if rule.drop_mode == "500":
            return self._json(
                fault_body(system_fault("The connection to the server was reset."), self.clock.now()), status=500
            )
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            raise _Dropped()
        return self._json(
            fault_body(system_fault("The connection to the server was reset."), self.clock.now()), status=500
        )

    # ================================================================== state
    def reset(self) -> None:
        self.store.restore_snapshot()
        self.oauth.clear_grants()
        self.faults.clear()
        self.limiter.reset()
        self.log.clear()
        self.clock.reset()
        self.webhooks.reset()
        self.webhooks.config = WebhookConfig(**vars(self.webhook_defaults))
        self.auto_approve = self.auto_approve_default
        self.redirect_uris = set(self.redirect_uris_default)

    def save_state(self, path: str | None = None) -> str:
        target = path or self.state_file
        if not target:
            raise ValueError("no state file configured")
        data = {
            "version": 1,
            "clock_offset": self.clock.offset,
            "realms": [],
            "oauth": self.oauth.export(),
        }
        for realm in self.store.realms.values():
            with realm.lock:
                data["realms"].append(export_realm(realm))
        text = dumps(data)
        temporary = f"{target}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)  # atomic: a crash mid-save never leaves a torn file
        return target

    def load_state(self, path: str, *, missing_ok: bool = False) -> bool:
        try:
            with open(path, encoding="utf-8") as handle:
                data = loads(handle.read())
        except FileNotFoundError:
            if missing_ok:
                return False
            raise
        self.clock.advance(float(data.get("clock_offset", 0)) - self.clock.offset)
        now = self.clock.now()
        realms: dict[str, RealmState] = {}
        max_seq = 0
        for realm_data in data.get("realms", []):
            realm = import_realm(self.store, realm_data, now)
            realms[realm.realm_id] = realm
            max_seq = max([max_seq] + [c.seq for c in realm.changes])
        self.store.realms.update(realms)
        for realm_id in realms:
            if realm_id not in self.realm_order:
                self.realm_order.append(realm_id)
        self.store._seq = max(self.store._seq, max_seq)
        self.oauth.load(data.get("oauth", {}))
        return True

    # ================================================================== control API
    def control(self, request: Request) -> Response:
        from .control_api import handle_control

        return handle_control(self, request)

    def info(self, base: str) -> dict[str, Any]:
        return {
            "url": base,
            "discovery_url": f"{base}/.well-known/openid_sandbox_configuration/",
            "realms": [{"realm_id": r.realm_id, "company_name": r.company_name} for r in self.store.realms.values()],
            "realm_id": self.realm_order[0] if self.realm_order else None,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "verifier_token": self.webhooks.config.verifier_token,
            "auto_approve": self.auto_approve,
            "clock_offset": self.clock.offset,
            "now": response_time(self.clock.now()),
            "limits": vars(self.limiter.limits),
        }

    def _fingerprint(self) -> tuple[int, int, int]:
        return (self.store._seq, len(self.oauth.access_tokens), len(self.oauth.connections))

    def start_autosave(self, interval: float = 5.0) -> None:
        """Save --state every `interval` seconds when something changed (a crash then loses little)."""
        if not self.state_file or self._autosave is not None:
            return
        self._autosave_stop = threading.Event()
        last = [self._fingerprint()]

        def run() -> None:
            while not self._autosave_stop.wait(interval):
                current = self._fingerprint()
                if current != last[0]:
                    with contextlib.suppress(OSError):
                        self.save_state()
                        last[0] = current

        self._autosave = threading.Thread(target=run, name="qbo-emulator-autosave", daemon=True)
        self._autosave.start()

    def close(self) -> None:
        self.webhooks.stop()
        if self._autosave is not None:
            self._autosave_stop.set()
            self._autosave.join(timeout=5)
            self._autosave = None


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "testserver"})


def _sleep(seconds: float) -> None:
    if seconds and seconds > 0:
        time.sleep(float(seconds))


def _subject(realm_id: str) -> str:
    """The OpenID subject of the emulator's one user in a company (userinfo `sub`, id_token `sub`)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"qbo-emulator:{realm_id}").hex


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def limits_update(limiter: Limiter, options: dict[str, Any]) -> Limits:
    for key in ("per_minute", "concurrent", "batch_per_minute"):
        if key in options and options[key] is not None:
            setattr(limiter.limits, key, int(options[key]))
    if "retry_after" in options:
        limiter.limits.retry_after = None if options["retry_after"] is None else int(options["retry_after"])
    return limiter.limits
