"""`make demo`: migrate, load the demo data, then run the QBO emulator, the django-q2 worker and the web server.

All three run as child processes of this script; Ctrl-C stops them together. The emulator delivers its webhooks to
the demo's own `/webhooks/quickbooks/`, signed with the verifier token the app checks, so a change made in the
emulator reaches the CRM within seconds (the worker processes it). Nothing here is needed in production, where the
web server and `manage.py qcluster` are run by the process manager.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8765"))
WEB = os.environ.get("DEMO_ADDRESS", "127.0.0.1:8000")
# QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN's default with DEBUG on (crm_project/settings.py), and the emulator's own.
VERIFIER_TOKEN = "emulator-verifier-token"  # a development value, public by design
LOGINS = (
    ("admin", "admin-demo", "superuser: connects QuickBooks"),
    ("owner", "owner-demo", "owner: dashboards, reads everything"),
    ("bookkeeper", "bookkeeper-demo", "bookkeeper: review queues, failed syncs"),
    ("staff", "staff-demo", "office staff: contacts, quotes, invoices"),
)


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, process: subprocess.Popen, name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not port_open(port):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}; see its output above.")
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not open port {port} within {seconds:.0f} s.")
        time.sleep(0.2)


def web_host_port(address: str) -> tuple[str, int]:
    """`DEMO_ADDRESS` as runserver takes it (`8001`, `127.0.0.1:8001`, `0.0.0.0:8001`) → a host a browser can open."""
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104  # nosec B104: compared, never bound: not a URL to open
        host = "127.0.0.1"
    return host, int(port)


def demo_environment(*, web: str, emulator_port: int) -> dict[str, str]:
    """The settings the demo's processes share: the emulator's URL, an OAuth redirect on the demo's own port, and
    the webhook verifier token (written out, so the emulator is started with the very value the app reads)."""
    host, port = web_host_port(web)
    return {
        "DEBUG": "true",
        "QUICKBOOKS_EMULATOR_URL": f"http://127.0.0.1:{emulator_port}",
        "QUICKBOOKS_REDIRECT_URI": f"http://{host}:{port}/quickbooks/callback/",
        "QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN": VERIFIER_TOKEN,
    }


def webhook_url(web: str) -> str:
    """Where the emulator POSTs its webhooks: the app's endpoint on the address the web server listens on."""
    host, port = web_host_port(web)
    return f"http://{host}:{port}/webhooks/quickbooks/"


def emulator_command(*, port: int, webhook_target: str, verifier_token: str, seed: str = "demo") -> list[str]:
    """The emulator's command line: webhooks on (sent by its background sweep, about every second, retried on
    Intuit's schedule when the web server is not up yet), signed with the token the app verifies."""
    return [
        *(sys.executable, "-m", "qbo_emulator", "--port", str(port), "--seed", seed),
        *("--webhook-url", webhook_target, "--verifier-token", verifier_token),
    ]


def main() -> None:
    for name, value in demo_environment(web=WEB, emulator_port=EMULATOR_PORT).items():
        os.environ.setdefault(name, value)
    if port_open(EMULATOR_PORT):
        raise SystemExit(f"Port {EMULATOR_PORT} is in use: stop what runs there or set EMULATOR_PORT.")
    manage("migrate", "--noinput", "-v", "0")
    manage("load_demo")

    children: list[subprocess.Popen] = []
    emulator = subprocess.Popen(
        emulator_command(
            port=EMULATOR_PORT,
            webhook_target=webhook_url(WEB),
            verifier_token=os.environ["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"],
        ),
        cwd=ROOT,
    )
    children.append(emulator)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait_for_port(EMULATOR_PORT, emulator, "The QuickBooks emulator")
    children.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT))
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", WEB, "--noreload"], cwd=ROOT)
    children.append(web)
    host, port = web_host_port(WEB)
    wait_for_port(port, web, "The web server")

    print("\n" + "=" * 72)
    print(f"Attack-a-Crack CRM demo: http://{host}:{port}/admin/")
    print(f"QuickBooks Online emulator: http://127.0.0.1:{EMULATOR_PORT}/ (seed: demo)")
    print(f"Its webhooks go to {webhook_url(WEB)}; the worker applies them within seconds.")
    for username, password, role in LOGINS:
        print(f"  {username:<11} / {password:<16} {role}")
    print("Log in as admin and open QuickBooks > Connection to connect the emulated company.")
    print("Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stopped = next(child for child in children if child.poll() is not None)
    print(f"{stopped.args} exited with status {stopped.returncode}; stopping the others.", flush=True)
    stop()


if __name__ == "__main__":
    main()
