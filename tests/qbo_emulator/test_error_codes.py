"""Every error code issue 3 names: the fault body on the wire and what python-quickbooks / intuitlib raise for it."""

from __future__ import annotations

import threading

import pytest
import requests
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.batch import batch_create
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    SevereException,
    ValidationException,
)
from quickbooks.objects import Customer, Invoice, Item
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

from .conftest import sample


def _raises(exc_class: type, error_code: int, call) -> QuickbooksException:
    """`call()` raises exactly `exc_class` (not a subclass) carrying `error_code`."""
    with pytest.raises(QuickbooksException) as err:
        call()
    assert type(err.value) is exc_class, f"{type(err.value).__name__}: {err.value.message}"
    assert err.value.error_code == error_code
    return err.value


def _fault(
    response: requests.Response,
    status: int,
    code: str,
    message: str,
    detail: str,
    kind="ValidationFault",
    *,
    element: bool | None = None,
):
    """The capital-F envelope: numeric-string code, Message, Detail (contains `detail`), element, type, time.
    Query faults carry no `element` key at all (minimul/qbo_api error/400.yml), hence ``element=False``."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"Fault", "time"}
    assert body["Fault"]["type"] == kind
    error = body["Fault"]["Error"][0]
    if element is None:  # recorded direct 500/2010/6240 faults have no element key (samples fault_*_400.json)
        element = code not in ("500", "2010", "6240")
    assert set(error) == {"Message", "Detail", "code"} | ({"element"} if element else set())
    assert error["code"] == code and error["code"].isdigit()
    assert error["Message"] == message
    assert detail in error["Detail"]
    return error


def _line(amount, qty=None, price=None, item_id="1") -> dict:
    detail: dict = {"ItemRef": {"value": item_id}}
    if qty is not None:
        detail.update(Qty=qty, UnitPrice=price)
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def _lib_invoice(qb, customer_ref, amount=5, qty=None, price=None, doc_number=None, lines=True) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = customer_ref
    if doc_number:
        invoice.DocNumber = doc_number
    if lines:
        line = SalesItemLine()
        line.Amount = amount
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = Item.get(1, qb=qb).to_ref()
        if qty is not None:
            line.SalesItemLineDetail.Qty = qty
            line.SalesItemLineDetail.UnitPrice = price
        invoice.Line = [line]
    return invoice


def _ref(value: str):
    from quickbooks.objects.base import Ref

    ref = Ref()
    ref.value = value
    return ref


# ------------------------------------------------------------------------------------------------ auth: 3200, 3100


def test_3200_expired_token_401(emulator, qb, api):
    emulator.control.expire_access_tokens()
    response = api.get("/customer/1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body = response.json()
    assert set(body) == set(sample("fault_auth_token_expired_401.json"))
    assert "Fault" not in body and body["fault"]["type"] == "AUTHENTICATION"
    error = body["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert error["detail"].startswith("Token expired")
    exc = _raises(AuthorizationException, 401, lambda: Customer.get(1, qb=qb))
    assert "3200" in exc.detail  # the library puts the raw body in .detail


def test_3100_realm_not_authorized_403(emulator, qb, api):
    response = requests.get(
        f"{emulator.url}/v3/company/4620816365179422850/customer/1", headers=api.headers(), timeout=10
    )
    assert response.status_code == 403
    body = response.json()
    assert body == sample("fault_authorization_3100_403.json")
    assert body["fault"]["error"][0]["code"] == "3100"
    qb.company_id = "4620816365179422850"
    exc = _raises(QuickbooksException, 10000, lambda: Customer.get(1, qb=qb))  # non-200 without a capital-F Fault
    assert "403" in exc.message and "3100" in exc.message


# ---------------------------------------------------------------------------------------------- 400 validation


def test_610_object_not_found(qb, api):
    _fault(api.get("/customer/99999"), 400, "610", "Object Not Found", "Object Not Found : ")
    _raises(ObjectNotFoundException, 610, lambda: Customer.get(99999, qb=qb))
    gone = api.create("Invoice", {"CustomerRef": {"value": "2"}, "Line": [_line(5)]})
    api.post("/invoice?operation=delete", {"Id": gone["Id"], "SyncToken": gone["SyncToken"]})
    _fault(
        api.post("/invoice", {"Id": gone["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}),
        400,
        "610",
        "Object Not Found",
        "Another user has deleted this transaction.",
    )


def test_2020_required_param_missing(qb, api):
    error = _fault(
        api.post("/invoice", {"CustomerRef": {"value": "1"}}),
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        "Required parameter Line is missing in the request",
    )
    assert error["element"] == "Line"
    customer_ref = Customer.get(1, qb=qb).to_ref()
    _raises(ValidationException, 2020, lambda: _lib_invoice(qb, customer_ref, lines=False).save(qb=qb))


def test_2030_invalid_id(qb, api):
    error = _fault(
        api.get("/customer/1.5"), 400, "2030", "Invalid ID", "Id should be a valid number. Supplied value:1.5"
    )
    assert error["element"] == "Id"
    _raises(ValidationException, 2030, lambda: Customer.get("1.5", qb=qb))


def test_2500_invalid_reference(qb, api):
    _fault(
        api.post("/invoice", {"CustomerRef": {"value": "9999"}, "Line": [_line(5)]}),
        400,
        "2500",
        "Invalid Reference Id",
        "Invalid Reference Id : Customer assigned to this transaction has been deleted or does not exist",
    )
    _raises(ValidationException, 2500, lambda: _lib_invoice(qb, _ref("9999")).save(qb=qb))


@pytest.mark.parametrize(
    "sql, detail",
    [
        ("select * from Custmoer", "QueryValidationError: invalid context declaration: Custmoer"),
        ("select * from Customer where Nickname = 'x'", "QueryValidationError: property 'Nickname' is not queryable"),
        ("select * from Vendor where PrimaryEmailAddr = 'x'", "property 'PrimaryEmailAddr' is not queryable"),
        ("select * from Customer startposition 0", "value 0 is too small. Min allowed value is 1"),
        ("select * from Customer maxresults 1001", "Max allowed value is 1000"),
    ],
)
def test_4001_invalid_query(qb, api, sql, detail):
    _fault(api.post("/query", sql), 400, "4001", "Invalid query", detail, element=False)
    exc = _raises(ValidationException, 4001, lambda: Customer.query(sql, qb=qb))
    assert detail in exc.detail


@pytest.mark.parametrize(
    "sql",
    ["select * from Customer where Id = '1' OR Id = '2'", "select * from Customer wher Id = '1'", "elect * from Item"],
)
def test_4000_query_syntax_errors_are_a_different_code(qb, api, sql):
    """QBO answers a statement it cannot parse with 4000 "Error parsing query" (quickbooks-php#129), not 4001."""
    _fault(api.post("/query", sql), 400, "4000", "Error parsing query", "QueryParserError: ", element=False)
    _raises(ValidationException, 4000, lambda: Customer.query(sql, qb=qb))


def test_2030_an_empty_id_filter_is_refused(qb, api):
    """``Id = ''`` is not "no rows": it is the 2030 "Invalid ID" fault a lookup by an unsaved id must not hide."""
    error = _fault(api.post("/query", "select * from Customer where Id = ''"), 400, "2030", "Invalid ID", "Supplied")
    assert error["element"] == "Id"
    _raises(ValidationException, 2030, lambda: Customer.choose([""], qb=qb))


def test_4001_through_filter_on_an_unknown_field(qb):
    exc = _raises(ValidationException, 4001, lambda: Customer.filter(Nickname="Bob", qb=qb))
    assert "Nickname" in exc.detail


def test_5010_stale_object(qb, api):
    customer = Customer.get(3, qb=qb)
    customer.Notes = "first"
    customer.save(qb=qb)
    customer.Notes = "second"  # still SyncToken "0"
    _raises(QuickbooksException, 5010, lambda: customer.save(qb=qb))
    _fault(
        api.post("/customer", {"Id": "3", "SyncToken": "0", "sparse": True, "Notes": "x"}),
        400,
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and ",
    )


def test_6140_duplicate_doc_number(qb, api):
    existing = api.query("select * from Invoice where DocNumber = '1001'")["Invoice"][0]
    error = _fault(
        api.post("/invoice", {"CustomerRef": {"value": "1"}, "DocNumber": "1001", "Line": [_line(5)]}),
        400,
        "6140",
        "Duplicate Document Number Error",
        f"This number has already been used. DocNumber=1001 is assigned to TxnType=Invoice with TxnId={existing['Id']}",
    )
    assert error["element"] == ""
    customer_ref = Customer.get(1, qb=qb).to_ref()
    _raises(QuickbooksException, 6140, lambda: _lib_invoice(qb, customer_ref, doc_number="1001").save(qb=qb))


def test_6240_duplicate_name_across_customers_vendors_employees(qb, api):
    _fault(
        api.post("/vendor", {"DisplayName": "Amy's Bird Sanctuary"}),
        400,
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already using this name.",
    )
    customer = Customer()
    customer.DisplayName = "BOOKS BY BESSIE"  # a vendor's name, in another case
    _raises(QuickbooksException, 6240, lambda: customer.save(qb=qb))


def test_6070_amount_must_be_qty_times_unit_price_rounded_half_up(qb, api):
    # 3 x 3.335 = 10.005 -> 10.01 half-up (banker's rounding would give 10.00)
    error = _fault(
        api.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [_line(10, 3, "3.335")]}),
        400,
        "6070",
        "Amount is not equal to UnitPrice * Qty",
        "Supplied value:10",
    )
    assert error["element"] == "Line.Amount"
    assert api.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [_line("10.01", 3, "3.335")]})["TotalAmt"]
    customer_ref = Customer.get(1, qb=qb).to_ref()
    _raises(QuickbooksException, 6070, lambda: _lib_invoice(qb, customer_ref, 10, qty=3, price=3.335).save(qb=qb))


# ------------------------------------------------------------------------------------------------ 500 and 429


def test_10000_system_fault_500(emulator, qb, api):
    emulator.control.fail_next("/customer/1$", status=500, count=2)
    _fault(
        api.get("/customer/1"),
        500,
        "10000",
        "An application error has occurred while processing your request",
        "",
        kind="SystemFault",
    )
    exc = _raises(SevereException, 10000, lambda: Customer.get(1, qb=qb))
    assert exc.message == "An application error has occurred while processing your request"


def _assert_throttle_body(response: requests.Response) -> None:
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/xml")
    text = response.text
    assert text.startswith("<?xml") and "<IntuitResponse" in text and '<Fault type="SERVICE">' in text
    assert '<Error code="3001">' in text
    assert "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>" in text
    assert "<Detail>The request limit was reached.  Try again later</Detail>" in text


def test_429_by_rate_per_realm(emulator, qb, api):
    emulator.control.throttle(per_minute=2)
    Customer.get(1, qb=qb)
    Customer.get(2, qb=qb)
    exc = _raises(QuickbooksException, 10000, lambda: Customer.get(3, qb=qb))  # XML: "Error reading json response"
    assert "Error reading json response" in exc.message and "ThrottleExceeded" in exc.message
    _assert_throttle_body(api.get("/customer/1"))


def test_429_by_concurrency(emulator, qb):
    emulator.control.throttle(concurrent=1)
    emulator.control.delay_next("/customer/1$", 2.0)
    slow = threading.Thread(target=Customer.get, args=(1,), kwargs={"qb": qb})
    slow.start()
    deadline = threading.Event()
    while emulator.control.count(path_contains="/customer/1") == 0 and not deadline.wait(0.02):
        pass
    deadline.wait(0.3)  # logged just before it is admitted; it then sleeps 2 s holding the only slot
    exc = _raises(QuickbooksException, 10000, lambda: Customer.get(2, qb=qb))
    slow.join()
    assert "ThrottleExceeded" in exc.message
    assert emulator.control.requests(path_contains="/customer/2")[0]["outcome"] == "throttled"
    assert Customer.get(2, qb=qb).Id == "2"  # the slot is free again


def test_429_batch_requests_per_minute(emulator, qb, api):
    emulator.control.throttle(batch_per_minute=1)
    first = Customer()
    first.DisplayName = "Batch Limit One"
    assert len(batch_create([first], qb=qb).successes) == 1
    second = Customer()
    second.DisplayName = "Batch Limit Two"
    exc = _raises(QuickbooksException, 10000, lambda: batch_create([second], qb=qb))
    assert "ThrottleExceeded" in exc.message
    _assert_throttle_body(api.post("/batch", {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}))
    assert api.get("/customer/1").status_code == 200  # other requests still pass


# ------------------------------------------------------------------------------------------------ OAuth errors


def _code(emulator, auth_client) -> dict:
    return emulator.approve(auth_client.get_authorization_url([Scopes.ACCOUNTING]))


def test_invalid_grant_bodies(emulator, auth_client):
    callback = _code(emulator, auth_client)
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    with pytest.raises(AuthClientError) as err:  # the code was used already
        auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    assert err.value.status_code == 400
    assert err.value.response.headers["Content-Type"].startswith("application/json")
    assert err.value.response.json() == {"error": "invalid_grant"}
    assert err.value.intuit_tid
    with pytest.raises(AuthClientError) as err:
        auth_client.refresh(refresh_token="AB11570127472xkApQcsuqTXgmXTmslIuWq7qhxlcMWHfC")
    assert err.value.status_code == 400
    assert err.value.response.json() == sample("token_error_invalid_grant.json")
    assert list(err.value.response.json()) == ["error_description", "error"]


def test_invalid_client_body(emulator, auth_client):
    from intuitlib.client import AuthClient

    callback = _code(emulator, auth_client)
    wrong = AuthClient(emulator.client_id, "not-the-secret", auth_client.redirect_uri, emulator.discovery_url)
    with pytest.raises(AuthClientError) as err:
        wrong.get_bearer_token(callback["code"])
    assert err.value.status_code == 401
    assert err.value.response.json() == {"error": "invalid_client"}
    auth_client.get_bearer_token(callback["code"])  # a failed client check does not burn the code
