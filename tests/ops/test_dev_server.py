"""`make demo` details: runserver's request log goes through the redaction filter (the OAuth callback's code and
state never reach the terminal), and DEMO_ADDRESS moves the OAuth redirect URI with the web server."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "bin" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_address_moves_the_redirect_uri():
    demo = load_demo()
    env = demo.demo_environment(web="127.0.0.1:8001", emulator_port=8766)
    assert env["QUICKBOOKS_REDIRECT_URI"] == "http://127.0.0.1:8001/quickbooks/callback/"
    assert env["QUICKBOOKS_EMULATOR_URL"] == "http://127.0.0.1:8766"
    assert demo.demo_environment(web="0.0.0.0:9000", emulator_port=8765)["QUICKBOOKS_REDIRECT_URI"] == (
        "http://127.0.0.1:9000/quickbooks/callback/"
    )
    assert demo.web_host_port("8002") == ("127.0.0.1", 8002)


def test_runserver_request_log_redacts_code_and_state(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "crm_project.settings",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        for _ in range(400):  # until it answers (a safety bound, not a timing assertion)
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/quickbooks/callback/?code=AB11-SECRET-CODE-9&state=SECRET-STATE-9"
                    "&realmId=9341455649204247",
                    allow_redirects=False, timeout=5,
                )
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.25)
        assert response.status_code == 302
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "GET /quickbooks/callback/?code=[REDACTED]&state=[REDACTED]&realmId=9341455649204247" in output
    assert "SECRET-CODE" not in output and "SECRET-STATE" not in output
