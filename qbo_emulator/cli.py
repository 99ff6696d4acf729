"""Command line: python -m qbo_emulator --port 8765 --seed sandbox|demo|empty [...] (DESIGN.md section 3)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from werkzeug.serving import make_server

from . import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_VERIFIER_TOKEN
from .app import EmulatorApp
from .loader import SeedError, load_seed_data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qbo_emulator", description="Local QuickBooks Online emulator (OAuth 2.0 + Accounting API v3)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", choices=("sandbox", "demo", "empty"), default="sandbox")
    parser.add_argument(
        "--customers", type=int, default=None, help="number of customers to generate (demo/empty seeds)"
    )
    parser.add_argument(
        "--auto-approve", action="store_true", help="the authorize page redirects at once, as if Connect was clicked"
    )
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--verifier-token", default=DEFAULT_VERIFIER_TOKEN)
    parser.add_argument("--webhook-format", choices=("legacy", "cloudevents"), default="legacy")
    parser.add_argument(
        "--webhook-interval",
        type=float,
        default=1.0,
        help="seconds between background delivery sweeps (0 = only on flush)",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--state", default=None, help="JSON file: loaded at start if present, saved at exit")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        help="a redirect URI registered for the client (repeatable; loopback and testserver URIs always accepted)",
    )
    return parser


def banner(app: EmulatorApp, url: str) -> str:
    lines = [
        f"QuickBooks Online emulator listening on {url}",
        f"  discovery:      {url}/.well-known/openid_sandbox_configuration/",
        f"  API base:       {url}/v3   (set QuickBooks.api_url_v3 / sandbox_api_url_v3 to it)",
        f"  control API:    {url}/_emulator/",
    ]
    for realm in app.store.realms.values():
        lines.append(f"  realm id:       {realm.realm_id}  ({realm.company_name})")
    lines += [
        f"  client id:      {app.client_id}",
        f"  client secret:  {app.client_secret}",
        f"  verifier token: {app.webhooks.config.verifier_token}",
        f"  auto-approve:   {'on' if app.auto_approve else 'off'}",
        f"  webhooks:       {app.webhooks.config.url or 'off'} ({app.webhooks.config.format})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        seed = load_seed_data(args.seed, customers=args.customers)
        app = EmulatorApp(
            [seed],
            client_id=args.client_id,
            client_secret=args.client_secret,
            verifier_token=args.verifier_token,
            auto_approve=args.auto_approve,
            webhook_url=args.webhook_url,
            webhook_format=args.webhook_format,
            webhook_interval=args.webhook_interval or None,
            state_file=args.state,
            redirect_uris=args.redirect_uri,
        )
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.start_autosave()
    server = make_server(args.host, args.port, app, threaded=True)
    url = f"http://{args.host}:{server.socket.getsockname()[1]}"
    print(banner(app, url), flush=True)
    stopping = threading.Event()

    def _stop(*_: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever()
    finally:
        app.close()
        if args.state:
            app.save_state(args.state)
            print(f"state saved to {args.state}", flush=True)
    return 0
