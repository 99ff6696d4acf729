"""`make serve`: the production stack on this machine: gunicorn, PostgreSQL, Redis and two `qcluster` workers.

The same processes as docs/operations.md's systemd units and Procfile, with DEBUG off: migrate, collectstatic
(whitenoise serves the manifest), then gunicorn serving `crm_project.wsgi` and SERVE_CLUSTERS (default 2)
`manage.py qcluster` processes on the Redis broker. Ctrl-C or SIGTERM stops them together.

Settings come from the environment or `.env`, as in production. For a local run with nothing set it fills in
PostgreSQL `crm_serve` and Redis on loopback, a SECRET_KEY and FERNET_KEYS generated once into var/serve.env
(mode 600), and, with no QUICKBOOKS_ENVIRONMENT, the QuickBooks emulator standing in for Intuit (its system check
E003 silenced, its webhooks delivered to gunicorn). There is no TLS proxy locally, so SECURE_SSL_REDIRECT is off
unless BEHIND_TLS_PROXY is set.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import emulator_command, port_open, wait_for_port, web_host_port, webhook_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = ROOT / "var" / "serve.env"


def local_secrets() -> dict[str, str]:
    """A SECRET_KEY and a Fernet key made once for this checkout (tokens stay readable across restarts)."""
    if not LOCAL_ENV.exists():
        from cryptography.fernet import Fernet

        LOCAL_ENV.parent.mkdir(exist_ok=True)
        LOCAL_ENV.touch(mode=0o600)
        LOCAL_ENV.write_text(f"SECRET_KEY={secrets.token_urlsafe(50)}\nFERNET_KEYS={Fernet.generate_key().decode()}\n")
    pairs = (line.split("=", 1) for line in LOCAL_ENV.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def serve_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment the stack runs with: what is set wins; local defaults fill the rest."""
    env = dict(environ)
    env["DEBUG"] = "false"
    address = env.setdefault("SERVE_ADDRESS", "127.0.0.1:8000")
    host, port = web_host_port(address)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_serve")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setdefault("ALLOWED_HOSTS", f"{host},localhost")
    if not env.get("SECRET_KEY") or not env.get("FERNET_KEYS"):
        for key, value in local_secrets().items():
            if not env.get(key):
                env[key] = value
    if not env.get("BEHIND_TLS_PROXY"):
        env.setdefault("SECURE_SSL_REDIRECT", "false")
    if not env.get("QUICKBOOKS_ENVIRONMENT"):
        emulator_port = env.setdefault("EMULATOR_PORT", "8765")
        env.update(
            QUICKBOOKS_ENVIRONMENT="emulator",
            QUICKBOOKS_EMULATOR_URL=f"http://127.0.0.1:{emulator_port}",
            SILENCED_SYSTEM_CHECKS="quickbooks_integration.E003",
            SERVE_EMULATOR="1",
        )
        env.setdefault("QUICKBOOKS_CLIENT_ID", "emulator-client-id")
        env.setdefault("QUICKBOOKS_CLIENT_SECRET", "emulator-client-secret")
        env.setdefault("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", "emulator-verifier-token")
        env.setdefault("QUICKBOOKS_REDIRECT_URI", f"http://{host}:{port}/quickbooks/callback/")
    return env


def main() -> None:
    env = serve_environment(dict(os.environ))
    host, port = web_host_port(env["SERVE_ADDRESS"])
    if port_open(port):
        raise SystemExit(f"Port {port} is in use: stop what runs there or set SERVE_ADDRESS.")

    def manage(*args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)

    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")

    children: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if env.get("SERVE_EMULATOR"):
        emulator_port = int(env["EMULATOR_PORT"])
        # Its webhooks go to gunicorn's /webhooks/quickbooks/, signed with the token the app verifies.
        command = emulator_command(
            port=emulator_port,
            webhook_target=webhook_url(env["SERVE_ADDRESS"]),
            verifier_token=env["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"],
        )
        emulator = subprocess.Popen(command, cwd=ROOT, env=env)
        children.append(emulator)
        wait_for_port(emulator_port, emulator, "The QuickBooks emulator")
    for _ in range(int(env.get("SERVE_CLUSTERS", "2"))):
        children.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env))
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "crm_project/gunicorn_conf.py", "--bind", env["SERVE_ADDRESS"]]
    web = subprocess.Popen(gunicorn, cwd=ROOT, env=env)
    children.append(web)
    wait_for_port(port, web, "gunicorn")

    print("\n" + "=" * 72)
    print(f"Attack-a-Crack CRM (production stack): http://{host}:{port}/admin/   readiness: /readyz/")
    print(f"gunicorn + {env.get('SERVE_CLUSTERS', '2')} qcluster workers on Redis; database: PostgreSQL")
    print("Create a login with: DEBUG=false .venv/bin/python manage.py createsuperuser (same environment)")
    print("Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stopped = next(child for child in children if child.poll() is not None)
    print(f"{stopped.args} exited with status {stopped.returncode}; stopping the others.", flush=True)
    stop()


if __name__ == "__main__":
    main()
