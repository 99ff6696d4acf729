"""The CLI contract (DESIGN.md 3): prints realm ids and defaults, serves, saves --state on exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "qbo_emulator", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    url = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
        if line.startswith("  webhooks:"):
            break
    assert url, "\n".join(lines)
    return process, url, lines


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    return out


def test_cli_prints_defaults_and_serves(tmp_path):
    process, url, lines = _start("--seed", "empty", "--auto-approve")
    try:
        text = "\n".join(lines)
        assert "realm id:       9130350000000001" in text
        assert "client id:      emulator-client-id" in text
        assert "client secret:  emulator-client-secret" in text
        assert "verifier token: emulator-verifier-token" in text
        doc = requests.get(f"{url}/.well-known/openid_sandbox_configuration/", timeout=10).json()
        assert doc["token_endpoint"] == f"{url}/oauth2/v1/tokens/bearer"
        info = requests.get(f"{url}/_emulator/info", timeout=10).json()
        assert info["auto_approve"] is True and info["realm_id"] == "9130350000000001"
    finally:
        _stop(process)


def test_cli_options_and_state_file(tmp_path):
    state = tmp_path / "state.json"
    process, url, lines = _start(
        "--seed",
        "empty",
        "--client-id",
        "cid",
        "--client-secret",
        "csecret",
        "--verifier-token",
        "vt",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--webhook-format",
        "cloudevents",
        "--state",
        str(state),
    )
    try:
        text = "\n".join(lines)
        assert "client id:      cid" in text and "client secret:  csecret" in text and "verifier token: vt" in text
        assert "cloudevents" in text
        tokens = requests.post(f"{url}/_emulator/tokens", json={}, timeout=10).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        created = requests.post(
            f"{url}/v3/company/9130350000000001/customer",
            json={"DisplayName": "Persisted"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 200
    finally:
        out = _stop(process)
    assert "state saved" in out
    assert state.exists()
    process, url, _ = _start("--seed", "empty", "--state", str(state))
    try:
        tokens = requests.post(f"{url}/_emulator/tokens", json={}, timeout=10).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        found = requests.post(
            f"{url}/v3/company/9130350000000001/query",
            data="select * from Customer where DisplayName = 'Persisted'",
            headers={**headers, "Content-Type": "application/text"},
            timeout=10,
        ).json()
        assert found["QueryResponse"]["Customer"][0]["DisplayName"] == "Persisted"
        again = requests.post(
            f"{url}/v3/company/9130350000000001/customer",
            json={"DisplayName": "Persisted"},
            headers=headers,
            timeout=10,
        )
        assert again.json()["Fault"]["Error"][0]["code"] == "6240"  # indexes rebuilt from the state file
    finally:
        _stop(process)


def test_testing_helper_api(emulator):
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.discovery_url.endswith("/.well-known/openid_sandbox_configuration/")
    assert emulator.realm_id == "9341455649204247"
    assert (emulator.client_id, emulator.client_secret, emulator.verifier_token) == (
        "emulator-client-id",
        "emulator-client-secret",
        "emulator-verifier-token",
    )


def test_large_seed_loads(tmp_path):
    from qbo_emulator.testing import start_emulator

    emu = start_emulator(seed="demo", customers=20000)
    try:
        tokens = emu.control.issue_tokens()
        response = requests.post(
            f"{emu.url}/v3/company/{emu.realm_id}/query",
            data="select count(*) from Customer",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
            timeout=60,
        )
        assert response.json()["QueryResponse"]["totalCount"] >= 19000
    finally:
        emu.stop()
