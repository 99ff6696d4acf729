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


def test_state_file_round_trip_keeps_grants_sequences_and_history(tmp_path):
    """A restart from --state keeps the app connected (refresh token, grace), the id and DocNumber sequences,
    deactivated names, the requestid memory and the change log (CDC)."""
    import datetime as dt

    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes

    from qbo_emulator.testing import start_emulator

    state = str(tmp_path / "state.json")
    first = start_emulator(seed="sandbox", state_file=state)
    try:
        auth = AuthClient(first.client_id, first.client_secret, "http://localhost:8000/callback", first.discovery_url)
        callback = first.approve(auth.get_authorization_url([Scopes.ACCOUNTING]))
        auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
        rotated_away = auth.refresh_token
        auth.refresh()
        headers = {"Authorization": f"Bearer {auth.access_token}", "Accept": "application/json"}
        base = f"{first.url}/v3/company/{first.realm_id}"
        customer = requests.post(
            f"{base}/customer?requestid=saved-1", json={"DisplayName": "Saved Person"}, headers=headers, timeout=10
        )
        original = customer.content
        customer = customer.json()["Customer"]
        requests.post(
            f"{base}/customer",
            json={"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False},
            headers=headers,
            timeout=10,
        )
        line = {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        invoice = requests.post(
            f"{base}/invoice", json={"CustomerRef": {"value": "2"}, "Line": [line]}, headers=headers, timeout=10
        ).json()["Invoice"]
        first.control.save_state()
    finally:
        first.stop()
    second = start_emulator(seed="sandbox", state_file=state)
    try:
        auth2 = AuthClient(
            second.client_id, second.client_secret, "http://localhost:8000/callback", second.discovery_url
        )
        auth2.refresh(refresh_token=rotated_away)  # the 24 h grace survives the restart
        headers = {"Authorization": f"Bearer {auth2.access_token}", "Accept": "application/json"}
        base = f"{second.url}/v3/company/{second.realm_id}"
        replayed = requests.post(
            f"{base}/customer?requestid=saved-1", json={"DisplayName": "Saved Person"}, headers=headers, timeout=10
        )
        assert replayed.status_code == 200 and replayed.content == original  # requestid memory survives too
        gone = requests.get(f"{base}/customer/{customer['Id']}", headers=headers, timeout=10).json()["Customer"]
        assert gone["DisplayName"] == "Saved Person (deleted)" and gone["Active"] is False
        again = requests.post(f"{base}/customer", json={"DisplayName": "Saved Person"}, headers=headers, timeout=10)
        assert int(again.json()["Customer"]["Id"]) > int(customer["Id"])  # sequences continue, no id reuse
        next_invoice = requests.post(
            f"{base}/invoice", json={"CustomerRef": {"value": "2"}, "Line": [line]}, headers=headers, timeout=10
        ).json()["Invoice"]
        assert int(next_invoice["DocNumber"]) == int(invoice["DocNumber"]) + 1
        since = (second.app.clock.now() - dt.timedelta(minutes=10)).isoformat()
        cdc = requests.get(
            f"{base}/cdc", params={"entities": "Invoice", "changedSince": since}, headers=headers, timeout=10
        ).json()
        ids = {row["Id"] for row in cdc["CDCResponse"][0]["QueryResponse"][0]["Invoice"]}
        assert {invoice["Id"], next_invoice["Id"]} <= ids
    finally:
        second.stop()
