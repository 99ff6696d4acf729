"""Throttling (429 XML), auth faults (401/3200, 403/3100), injected faults, delays, drops, clock, reset."""

from __future__ import annotations

import threading

import pytest
import requests
from quickbooks.exceptions import AuthorizationException, QuickbooksException, SevereException
from quickbooks.objects import Customer

from .conftest import sample


def test_default_limits(emulator):
    assert emulator.control.info()["limits"] == {
        "per_minute": 500,
        "concurrent": 10,
        "batch_per_minute": 40,
        "retry_after": None,
    }


def test_per_minute_limit_answers_429_with_the_xml_body(emulator, api, qb):
    emulator.control.throttle(per_minute=3)
    for _ in range(3):
        assert api.get("/customer/1").status_code == 200
    response = api.get("/customer/1")
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/xml")
    assert "ThrottleExceeded" in response.text and '<Error code="3001">' in response.text
    assert "Retry-After" not in response.headers
    assert (
        set(sample("fault_throttle_429.xml").split("\n")[2:-1]) <= set(response.text.split("\n")[2:-1])
        or "statusCode=429" in response.text
    )
    with pytest.raises(QuickbooksException) as err:
        Customer.get(1, qb=qb)
    assert "ThrottleExceeded" in err.value.message
    emulator.control.advance_clock(61)
    assert api.get("/customer/1").status_code == 200
    assert emulator.control.requests(path_contains="/customer/1")[3]["outcome"] == "throttled"


def test_retry_after_header_when_configured(emulator, api):
    emulator.control.throttle(per_minute=1, retry_after=7)
    api.get("/customer/1")
    assert api.get("/customer/1").headers["Retry-After"] == "7"


def test_batch_limit_per_minute(emulator, api):
    emulator.control.throttle(batch_per_minute=2)
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
    assert api.post("/batch", body).status_code == 200
    assert api.post("/batch", body).status_code == 200
    assert api.post("/batch", body).status_code == 429
    assert api.get("/customer/1").status_code == 200  # plain requests are not batch-limited


def test_limits_are_per_realm(emulator, api):
    emulator.control.throttle(per_minute=1)
    api.get("/customer/1")
    other = requests.get(f"{emulator.url}/v3/company/123/customer/1", headers=api.headers(), timeout=10)
    assert other.status_code == 403  # counted separately: not throttled, just not authorized


def test_concurrency_limit(emulator, api):
    emulator.control.throttle(concurrent=2)
    emulator.control.delay_next("/customer/1$", 2.5, count=3)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(api.get("/customer/1").status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 429]


def test_missing_or_bad_token_is_401_lowercase_envelope(emulator, api):
    response = requests.get(f"{api.base}/customer/1", headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body = response.json()
    assert set(sample("fault_auth_token_expired_401.json")) == set(body)
    assert body["fault"]["error"][0]["code"] == "3200"
    short = requests.get(f"{api.base}/customer/1", headers={"Authorization": "Bearer abc"}, timeout=10).json()
    assert "too short or too long" in short["fault"]["error"][0]["detail"]


def test_expire_access_tokens_then_refresh(emulator, qb):
    assert emulator.control.expire_access_tokens() >= 1
    with pytest.raises(AuthorizationException) as err:
        Customer.get(1, qb=qb)
    assert err.value.error_code == 401
    assert "Token expired" in err.value.detail
    qb.auth_client.refresh()
    qb._start_session()
    assert Customer.get(1, qb=qb).Id == "1"


def test_wrong_realm_is_403_3100(emulator, api, qb):
    response = requests.get(f"{emulator.url}/v3/company/9130350000000001/customer/1", headers=api.headers(), timeout=10)
    assert response.status_code == 403
    assert response.json() == sample("fault_authorization_3100_403.json")
    qb.company_id = "9130350000000001"
    with pytest.raises(QuickbooksException) as err:
        Customer.get(1, qb=qb)
    assert "403" in err.value.message


def test_fail_next_500_system_fault_then_recovers(emulator, qb, api):
    emulator.control.fail_next("/customer/1$", status=500, count=2)
    for _ in range(2):
        with pytest.raises(SevereException) as err:
            Customer.get(1, qb=qb)
        assert err.value.error_code == 10000
    assert Customer.get(1, qb=qb).Id == "1"
    assert [r["outcome"] for r in emulator.control.requests(path_contains="/customer/1")] == [
        "injected",
        "injected",
        "ok",
    ]


def test_fail_next_gateway_errors_are_html(emulator, api):
    emulator.control.fail_next("/query", status=502)
    emulator.control.fail_next("/query", status=503)
    first = api.post("/query", "select * from Term")
    assert first.status_code in (502, 503) and "<html>" in first.text
    second = api.post("/query", "select * from Term")
    assert {first.status_code, second.status_code} == {502, 503}
    assert api.post("/query", "select * from Term").status_code == 200


def test_fail_next_auth_and_custom_codes(emulator, api):
    emulator.control.fail_next("/customer", status=401, method="GET")
    response = api.get("/customer/1")
    assert response.status_code == 401 and response.json()["fault"]["error"][0]["code"] == "3200"
    assert "WWW-Authenticate" in response.headers
    emulator.control.fail_next("/customer", status=403)
    assert api.get("/customer/1").json()["fault"]["error"][0]["code"] == "3100"
    emulator.control.fail_next("/customer", status=400, code=6000, detail="Custom business rule")
    error = api.get("/customer/1").json()["Fault"]["Error"][0]
    assert error["code"] == "6000" and "Custom business rule" in error["Detail"]
    emulator.control.fail_next("/customer", status=429, retry_after=30)
    throttled = api.get("/customer/1")
    assert (
        throttled.status_code == 429
        and throttled.headers["Retry-After"] == "30"
        and "ThrottleExceeded" in throttled.text
    )
    emulator.control.fail_next("/customer", status=500, body="<html>oops</html>", content_type="text/html")
    assert api.get("/customer/1").text == "<html>oops</html>"


def test_injected_faults_do_not_execute(emulator, api):
    emulator.control.fail_next("/customer$", status=500, method="POST")
    assert api.post("/customer", {"DisplayName": "Never Made"}).status_code == 500
    assert api.query("select * from Customer where DisplayName = 'Never Made'") == {}


def test_delay_then_timeout_then_replay_by_requestid(emulator, api):
    emulator.control.delay_next("/customer$", 1.5)
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{api.base}/customer?requestid=slow-1",
            json={"DisplayName": "Slow One"},
            headers=api.headers(),
            timeout=0.5,
        )
    retry = api.post("/customer?requestid=slow-1", {"DisplayName": "Slow One"})
    assert retry.status_code == 200
    assert len(api.query("select * from Customer where DisplayName = 'Slow One'")["Customer"]) == 1


def test_drop_response_after_commit_then_replay(emulator, api):
    emulator.control.drop_response_next("/customer$", method="POST")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{api.base}/customer?requestid=drop-1",
            json={"DisplayName": "Dropped One"},
            headers=api.headers(),
            timeout=10,
        )
    assert len(api.query("select * from Customer where DisplayName = 'Dropped One'")["Customer"]) == 1  # committed
    retry = api.post("/customer?requestid=drop-1", {"DisplayName": "Dropped One"})
    assert retry.status_code == 200 and retry.json()["Customer"]["DisplayName"] == "Dropped One"
    assert len(api.query("select * from Customer where DisplayName = 'Dropped One'")["Customer"]) == 1
    assert emulator.control.requests(path_contains="/customer", method="POST")[0]["outcome"] == "dropped"


def test_drop_mode_500(emulator, api):
    emulator.control.drop_response_next("/customer$", mode="500")
    response = api.post("/customer?requestid=drop-2", {"DisplayName": "Dropped Two"})
    assert response.status_code == 500 and response.json()["Fault"]["Error"][0]["code"] == "10000"
    assert api.post("/customer?requestid=drop-2", {"DisplayName": "Dropped Two"}).status_code == 200


def test_refresh_response_lost_after_rotation(emulator, auth_client, qb):
    """Fault 3: the server rotated but the client never saw it; the old refresh token still works (24 h grace)."""
    old = auth_client.refresh_token
    emulator.control.drop_response_next("/oauth2/v1/tokens/bearer")
    with pytest.raises(requests.ConnectionError):
        auth_client.refresh()
    assert auth_client.refresh_token == old
    auth_client.refresh()
    assert auth_client.refresh_token != old


def test_request_log(emulator, api, qb):
    Customer.all(qb=qb)
    Customer.get(1, qb=qb)
    log = emulator.control.requests(path_contains="/query")
    assert len(log) == 1
    assert log[0]["method"] == "POST" and log[0]["query"] == {"minorversion": "75"} and log[0]["status"] == 200
    assert emulator.control.count(path_contains="/customer/1", method="GET") == 1


def test_reset_restores_the_seed(emulator, api):
    api.create("Customer", {"DisplayName": "Temporary"})
    emulator.control.fail_next("/never", status=500)
    emulator.control.reset()
    fresh = emulator.control.issue_tokens()["access_token"]
    response = requests.post(
        f"{api.base}/query",
        data="select * from Customer where DisplayName = 'Temporary'",
        headers={"Authorization": f"Bearer {fresh}", "Accept": "application/json"},
        timeout=10,
    )
    assert response.json()["QueryResponse"] == {}
    assert emulator.control.faults() == []
    assert (
        requests.get(f"{api.base}/customer/1", headers=api.headers(), timeout=10).status_code == 401
    )  # tokens were reset too


def test_query_fault_4001(api, qb):
    response = api.post("/query", "select * from Custmoer")
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == "4001"
    from quickbooks.exceptions import ValidationException

    with pytest.raises(ValidationException):
        Customer.query("select * from Custmoer", qb=qb)
