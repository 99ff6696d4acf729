"""OAuth 2.0 conformance through intuitlib.AuthClient: discovery, consent, codes, rotation, revoke, userinfo."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from .conftest import REDIRECT_URI, sample


def _connect(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="st-1"))
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    return callback


def test_discovery_has_every_key_intuitlib_needs_and_points_at_the_emulator(emulator):
    doc = requests.get(emulator.discovery_url, timeout=10).json()
    for key in sample("discovery_sandbox.json"):
        assert key in doc
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "issuer",
    ):
        assert doc[key].startswith(emulator.url)
    client = AuthClient(emulator.client_id, emulator.client_secret, REDIRECT_URI, emulator.discovery_url)
    assert client.token_endpoint == f"{emulator.url}/oauth2/v1/tokens/bearer"


def test_every_response_carries_intuit_tid(emulator, api):
    assert requests.get(emulator.discovery_url, timeout=10).headers.get("intuit_tid")
    assert api.get("/customer/1").headers.get("intuit_tid")
    assert api.get("/customer/abc").headers.get("intuit_tid")


def test_authorize_page_shows_company_and_buttons(emulator, auth_client):
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="xyz")
    page = requests.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    assert "Sandbox Company" in page.text or emulator.app.store.realms[emulator.realm_id].company_name in page.text
    assert 'value="connect"' in page.text and 'value="cancel"' in page.text


def test_connect_redirects_with_code_state_realm(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="abc"))
    assert callback["state"] == "abc"
    assert callback["realmId"] == emulator.realm_id
    assert callback["code"]


def test_cancel_redirects_with_access_denied(emulator, auth_client):
    callback = emulator.approve(
        auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="abc"), decision="cancel"
    )
    assert callback == {"error": "access_denied", "state": "abc"}


def test_auto_approve_redirects_at_once(emulator, auth_client):
    emulator.control.set_auto_approve(True)
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="s2")
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(response.headers["Location"]).query))
    assert params["state"] == "s2" and params["realmId"] == emulator.realm_id and params["code"]
    assert response.headers["Location"].startswith(REDIRECT_URI)


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/cb", "http://127.0.0.1.evil.example/cb", "javascript:alert(1)", "https://app.example/cb/x"],
)
def test_authorize_refuses_an_unregistered_redirect_uri(emulator, redirect_uri):
    """Intuit redirects only to a URI registered for the app, matched exactly: anything else is an error page, with
    no consent form and no redirect that could carry a code away."""
    emulator.control.register_redirect_uris("https://app.example/cb")
    client = AuthClient(emulator.client_id, emulator.client_secret, redirect_uri, emulator.discovery_url)
    url = client.get_authorization_url([Scopes.ACCOUNTING])
    for response in (
        requests.get(url, allow_redirects=False, timeout=30),
        requests.post(
            url.split("?")[0],
            data={**dict(urllib.parse.parse_qsl(url.split("?")[1])), "decision": "connect"},
            allow_redirects=False,
            timeout=30,
        ),
    ):
        assert response.status_code == 400 and "Location" not in response.headers
        assert "redirect_uri" in response.text and 'id="connect"' not in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/cb",
        "http://testserver/quickbooks/callback/",
        "http://127.0.0.1:8000/quickbooks/callback/",
        "http://localhost:8000/callback",
    ],
)
def test_authorize_accepts_registered_and_local_redirect_uris(emulator, redirect_uri):
    emulator.control.register_redirect_uris("https://app.example/cb")
    client = AuthClient(emulator.client_id, emulator.client_secret, redirect_uri, emulator.discovery_url)
    callback = emulator.approve(client.get_authorization_url([Scopes.ACCOUNTING]))
    assert callback["code"] and callback["realmId"] == emulator.realm_id


def test_code_exchange_returns_qbo_token_response(emulator, auth_client):
    _connect(emulator, auth_client)
    assert auth_client.expires_in == 3600
    assert auth_client.x_refresh_token_expires_in == 8726400
    assert 800 <= len(auth_client.access_token) <= 1200
    assert auth_client.access_token.startswith("eyJ")
    token_keys = set(sample("token_response.json"))
    raw = emulator.control.issue_tokens()
    assert token_keys <= set(raw)


def test_code_is_single_use(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    auth_client.get_bearer_token(callback["code"])
    first_access = auth_client.access_token
    with pytest.raises(AuthClientError) as err:
        auth_client.get_bearer_token(callback["code"])
    assert err.value.status_code == 400
    assert err.value.response.json()["error"] == "invalid_grant"
    # reuse revokes what the first exchange issued
    response = requests.get(
        f"{emulator.url}/v3/company/{emulator.realm_id}/customer/1",
        headers={"Authorization": f"Bearer {first_access}", "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401


def test_code_expires_after_ten_minutes(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    emulator.control.advance_clock(601)
    with pytest.raises(AuthClientError) as err:
        auth_client.get_bearer_token(callback["code"])
    assert err.value.status_code == 400


def test_code_needs_the_same_redirect_uri(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    other = AuthClient(
        emulator.client_id, emulator.client_secret, "http://localhost:9999/other", emulator.discovery_url
    )
    with pytest.raises(AuthClientError) as err:
        other.get_bearer_token(callback["code"])
    assert err.value.response.json() == {"error": "invalid_grant"}
    auth_client.get_bearer_token(callback["code"])  # still unused, so the right URI works


def test_bad_client_secret_is_invalid_client_401(emulator):
    callback = emulator.approve(
        AuthClient(
            emulator.client_id, emulator.client_secret, REDIRECT_URI, emulator.discovery_url
        ).get_authorization_url([Scopes.ACCOUNTING])
    )
    wrong = AuthClient(emulator.client_id, "wrong-secret", REDIRECT_URI, emulator.discovery_url)
    with pytest.raises(AuthClientError) as err:
        wrong.get_bearer_token(callback["code"])
    assert err.value.status_code == 401
    assert err.value.response.json() == {"error": "invalid_client"}


def test_refresh_rotates_and_previous_token_has_24h_grace(emulator, auth_client):
    _connect(emulator, auth_client)
    first = auth_client.refresh_token
    auth_client.refresh()
    second = auth_client.refresh_token
    assert second != first
    emulator.control.advance_clock(23 * 3600)
    auth_client.refresh(refresh_token=first)  # stale but inside the grace period
    emulator.control.advance_clock(2 * 3600)
    with pytest.raises(AuthClientError) as err:
        auth_client.refresh(refresh_token=first)
    assert err.value.status_code == 400
    assert err.value.response.json() == sample("token_error_invalid_grant.json")
    auth_client.refresh(refresh_token=second)  # never presented before, so not stale


def test_refresh_token_expires_after_its_rolling_lifetime(emulator, auth_client):
    _connect(emulator, auth_client)
    emulator.control.advance_clock(8726400 + 1)
    with pytest.raises(AuthClientError) as err:
        auth_client.refresh()
    assert err.value.response.json()["error"] == "invalid_grant"


def test_hard_expiry_is_reported_when_asked(emulator, auth_client):
    _connect(emulator, auth_client)
    basic = base64.b64encode(f"{emulator.client_id}:{emulator.client_secret}".encode()).decode()
    response = requests.post(
        auth_client.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": auth_client.refresh_token},
        headers={
            "Authorization": f"Basic {basic}",
            "x-include-refresh-token-hard-expires-in": "true",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert 0 < response.json()["x_refresh_token_hard_expires_in"] <= 5 * 365 * 24 * 3600
    plain = requests.post(
        auth_client.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert "x_refresh_token_hard_expires_in" not in plain.json()


def test_access_token_expires_after_an_hour(emulator, qb):
    from quickbooks.exceptions import AuthorizationException
    from quickbooks.objects import Customer

    assert Customer.get(1, qb=qb).Id == "1"
    emulator.control.advance_clock(3601)
    with pytest.raises(AuthorizationException):
        Customer.get(1, qb=qb)


def test_revoke_returns_200_empty_and_kills_the_connection(emulator, auth_client):
    _connect(emulator, auth_client)
    access = auth_client.access_token
    refresh = auth_client.refresh_token
    assert auth_client.revoke(token=refresh) is True
    with pytest.raises(AuthClientError):
        auth_client.refresh(refresh_token=refresh)
    response = requests.get(
        f"{emulator.url}/v3/company/{emulator.realm_id}/customer/1",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 401


def test_control_revoke_connection(emulator, auth_client):
    _connect(emulator, auth_client)
    assert emulator.control.revoke_connection(emulator.realm_id) == 1
    with pytest.raises(AuthClientError) as err:
        auth_client.refresh()
    assert err.value.response.json()["error"] == "invalid_grant"
    response = requests.get(
        f"{emulator.url}/v3/company/{emulator.realm_id}/customer/1",
        headers={"Authorization": f"Bearer {auth_client.access_token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["fault"]["error"][0]["code"] == "3200"


def test_userinfo(emulator, auth_client):
    _connect(emulator, auth_client)
    response = auth_client.get_user_info()
    assert response.status_code == 200
    assert response.json()["givenName"]
    with pytest.raises(AuthClientError):
        auth_client.get_user_info(access_token="nope")


def test_control_issue_tokens_work_with_python_quickbooks(emulator):
    from quickbooks import QuickBooks
    from quickbooks.objects import Customer

    tokens = emulator.control.issue_tokens()
    client = AuthClient(emulator.client_id, emulator.client_secret, REDIRECT_URI, emulator.discovery_url)
    client.access_token = tokens["access_token"]
    qb = QuickBooks(
        auth_client=client, refresh_token=tokens["refresh_token"], company_id=emulator.realm_id, minorversion=75
    )
    qb.api_url_v3 = f"{emulator.url}/v3"
    assert Customer.get(1, qb=qb).DisplayName


def test_python_quickbooks_constructor_refresh_path(emulator):
    """QuickBooks(...) without an access token refreshes (rotating the refresh token): persist the new one."""
    from quickbooks import QuickBooks

    tokens = emulator.control.issue_tokens()
    client = AuthClient(emulator.client_id, emulator.client_secret, REDIRECT_URI, emulator.discovery_url)
    qb = QuickBooks(
        auth_client=client, refresh_token=tokens["refresh_token"], company_id=emulator.realm_id, minorversion=75
    )
    assert qb.refresh_token != tokens["refresh_token"]
    assert emulator.control.count(path_contains="/oauth2/v1/tokens/bearer") == 1


def test_refresh_tokens_hard_expire_after_five_years(emulator, auth_client):
    _connect(emulator, auth_client)
    for _ in range(20):  # refresh every 90 days keeps the rolling lifetime alive...
        emulator.control.advance_clock(90 * 86400)
        auth_client.refresh()
    emulator.control.advance_clock(30 * 86400)  # ...until 5 years after the connection was made
    with pytest.raises(AuthClientError) as err:
        auth_client.refresh()
    assert err.value.response.json()["error"] == "invalid_grant"


def test_openid_scope_gets_an_id_token_that_intuitlib_validates(emulator, auth_client):
    import jwt

    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID]))
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    token = auth_client.id_token  # set only when iss, aud, exp and the RS256 signature (via jwks_uri) all check out
    assert token is not None
    header, payload = token.split(".")[:2]
    assert not set("-_") & set(header + payload)  # intuitlib decodes these two with standard base64
    keys = requests.get(f"{emulator.url}/op/v1/jwks", timeout=10).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]
    key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, key, audience=emulator.client_id, algorithms=["RS256"])
    assert claims["iss"] == auth_client.issuer_uri and claims["aud"] == [emulator.client_id]
    assert claims["realmid"] == callback["realmId"] and claims["exp"] - claims["iat"] == 3600
    userinfo = auth_client.get_user_info().json()
    assert userinfo["sub"] == claims["sub"]
    auth_client.refresh()  # a refresh answers without a new id_token
    assert auth_client.id_token == token


def test_no_id_token_without_the_openid_scope(emulator, auth_client):
    callback = emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    response = requests.post(
        f"{emulator.url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI},
        auth=(emulator.client_id, emulator.client_secret),
        timeout=10,
    )
    assert response.status_code == 200 and "id_token" not in response.json()
