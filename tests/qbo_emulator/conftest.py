"""Fixtures for the emulator conformance suite: one emulator per session, reset through the control API per test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # python-quickbooks over http:// (API.md 2.1)

from qbo_emulator.testing import RunningEmulator, start_emulator  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"
REDIRECT_URI = "http://localhost:8000/callback"


def sample(name: str) -> Any:
    text = (FIXTURES / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


@pytest.fixture(scope="session")
def session_emulator() -> Iterator[RunningEmulator]:
    emu = start_emulator(seed="sandbox")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture()
def emulator(session_emulator: RunningEmulator) -> RunningEmulator:
    session_emulator.control.reset()
    return session_emulator


class Api:
    """Plain-requests access for what the client libraries cannot reach."""

    def __init__(self, emu: RunningEmulator, access_token: str, realm_id: str) -> None:
        self.emu = emu
        self.access_token = access_token
        self.realm_id = realm_id

    @property
    def base(self) -> str:
        return f"{self.emu.url}/v3/company/{self.realm_id}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json", **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers(kwargs.pop("headers", None)), timeout=30, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = self.headers(kwargs.pop("headers", None))
        if isinstance(body, str):
            return requests.post(
                self.base + path,
                data=body,
                headers={"Content-Type": "application/text", **headers},
                timeout=30,
                **kwargs,
            )
        return requests.post(self.base + path, json=body, headers=headers, timeout=30, **kwargs)

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(f"/{entity.lower()}", body)
        assert response.status_code == 200, response.text
        return response.json()[entity]

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        response = self.get(f"/{entity.lower()}/{obj_id}")
        assert response.status_code == 200, response.text
        return response.json()[entity]

    def query(self, sql: str) -> dict[str, Any]:
        response = self.post("/query", sql)
        assert response.status_code == 200, response.text
        return response.json()["QueryResponse"]


@pytest.fixture()
def tokens(emulator: RunningEmulator) -> dict[str, Any]:
    return emulator.control.issue_tokens()


@pytest.fixture()
def api(emulator: RunningEmulator, tokens: dict[str, Any]) -> Api:
    return Api(emulator, tokens["access_token"], emulator.realm_id)


@pytest.fixture()
def auth_client(emulator: RunningEmulator) -> Any:
    from intuitlib.client import AuthClient

    return AuthClient(emulator.client_id, emulator.client_secret, REDIRECT_URI, emulator.discovery_url)


@pytest.fixture()
def qb(emulator: RunningEmulator, auth_client: Any) -> Any:
    """A python-quickbooks client connected through the real OAuth flow (consent page, code exchange)."""
    from intuitlib.enums import Scopes
    from quickbooks import QuickBooks

    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    client = QuickBooks(
        auth_client=auth_client,
        refresh_token=auth_client.refresh_token,
        company_id=callback["realmId"],
        minorversion=75,
        use_decimal=True,
    )
    client.api_url_v3 = f"{emulator.url}/v3"
    return client


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (numbers are one type; a list is described by its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return "number"
    if value is None:
        return "null"
    return "string"


def assert_same_shape(real: Any, ours: Any, path: str = "$") -> None:
    """Every key of the real response is present in ours with the same JSON type, recursively."""
    real_shape, our_shape = shape(real), shape(ours)
    _compare(real_shape, our_shape, path)


def _compare(real: Any, ours: Any, path: str) -> None:
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours}"
        for key, value in real.items():
            assert key in ours, f"{path}.{key} missing (have {sorted(ours)})"
            _compare(value, ours[key], f"{path}.{key}")
    elif isinstance(real, list):
        assert isinstance(ours, list), f"{path}: expected a list, got {ours}"
        if real and ours:
            _compare(real[0], ours[0], f"{path}[]")
    else:
        assert real == ours, f"{path}: type {ours} instead of {real}"
