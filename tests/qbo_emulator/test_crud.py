"""CRUD via python-quickbooks and requests: read, create, full/sparse update, delete, void, deactivate, send, PDF."""

from __future__ import annotations

import pytest
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
from quickbooks.objects import (
    Account,
    Customer,
    Employee,
    Estimate,
    Invoice,
    Item,
    Payment,
    PaymentMethod,
    Term,
    Vendor,
)
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.preferences import Preferences

from .conftest import sample


def _invoice(qb, customer_id="1", amount=100, qty=None, price=None, item_id="1"):
    invoice = Invoice()
    invoice.CustomerRef = Customer.get(customer_id, qb=qb).to_ref()
    line = SalesItemLine()
    line.Amount = amount
    detail = SalesItemLineDetail()
    detail.ItemRef = Item.get(item_id, qb=qb).to_ref()
    if qty is not None:
        detail.Qty = qty
        detail.UnitPrice = price
    line.SalesItemLineDetail = detail
    invoice.Line = [line]
    return invoice


def test_read_every_entity(qb, api):
    assert Customer.get(1, qb=qb).DisplayName == "Amy's Bird Sanctuary"
    assert Item.get(1, qb=qb).Name == "Services"
    assert Term.get(3, qb=qb).Name == "Net 30"
    assert Account.get(4, qb=qb).Name
    assert PaymentMethod.get(2, qb=qb).Name
    assert Vendor.all(qb=qb)
    assert Employee.all(qb=qb)
    assert Estimate.get(41, qb=qb).TotalAmt > 0
    assert Invoice.get(60, qb=qb).DocNumber == "1001"
    assert Payment.get(140, qb=qb).TotalAmt > 0
    assert CompanyInfo.get(api.realm_id, qb=qb).CompanyName
    assert Preferences.get(qb=qb).SalesFormsPrefs
    assert api.get("/taxcode/2").json()["TaxCode"]["Id"] == "2"
    assert api.get("/taxrate/3").json()["TaxRate"]["Id"] == "3"


def test_read_missing_is_610_and_bad_id_is_2030(qb, api):
    with pytest.raises(ObjectNotFoundException):
        Customer.get(99999, qb=qb)
    body = api.get("/customer/1.5").json()
    assert body["Fault"]["Error"][0]["code"] == "2030"
    assert body["Fault"]["Error"][0]["Detail"] == "Id should be a valid number. Supplied value:1.5"
    assert body["Fault"]["Error"][0]["element"] == "Id"


def test_unknown_path_is_unsupported_operation(api):
    response = api.get("/customer/1/5")
    assert response.status_code == 400
    error = response.json()["Fault"]["Error"][0]
    assert error["code"] == "500" and error["Message"] == "Unsupported Operation"


def test_create_customer_with_python_quickbooks_defaults(qb, emulator):
    customer = Customer()
    customer.DisplayName = "Jane Doe"
    customer.GivenName = "Jane"
    customer.FamilyName = "Doe"
    saved = customer.save(qb=qb)
    assert saved.Id and saved.SyncToken == "0"
    assert saved.Taxable is True and saved.DefaultTaxCodeRef.value == "2"
    assert saved.PreferredDeliveryMethod == "Print"
    assert saved.FullyQualifiedName == "Jane Doe"
    assert saved.PrintOnCheckName == "Jane Doe"
    assert saved.MetaData["CreateTime"]
    raw = emulator.control  # "" defaults are treated as absent: nothing empty is stored
    assert raw is not None


def test_empty_string_defaults_are_not_stored(qb, api):
    customer = Customer()
    customer.DisplayName = "No Blanks"
    saved = customer.save(qb=qb)
    stored = api.read("Customer", saved.Id)
    assert "Title" not in stored and "OpenBalanceDate" not in stored and "Notes" not in stored


def test_names_share_one_id_sequence(api):
    customer = api.create("Customer", {"DisplayName": "Seq C"})
    vendor = api.create("Vendor", {"DisplayName": "Seq V"})
    assert int(vendor["Id"]) == int(customer["Id"]) + 1


def test_full_update_nulls_omitted_fields_and_increments_synctoken(api):
    created = api.create("Customer", {"DisplayName": "Full Up", "CompanyName": "Co", "Notes": "n"})
    response = api.post(
        "/customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "DisplayName": "Full Up",
            "PrimaryPhone": {"FreeFormNumber": "(415) 444-1234"},
        },
    )
    updated = response.json()["Customer"]
    assert updated["SyncToken"] == "1"
    assert "CompanyName" not in updated and "Notes" not in updated
    assert updated["PrimaryPhone"]["FreeFormNumber"] == "(415) 444-1234"


def test_sparse_update_touches_only_sent_fields(api):
    created = api.create("Customer", {"DisplayName": "Sparse", "CompanyName": "Co"})
    updated = api.post(
        "/customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "MiddleName": "Mark"}
    ).json()["Customer"]
    assert updated["MiddleName"] == "Mark" and updated["CompanyName"] == "Co" and updated["SyncToken"] == "1"


def test_stale_synctoken_is_5010(qb, api):
    saved = Customer.get(2, qb=qb)
    saved.CompanyName = "First"
    saved.save(qb=qb)
    saved.CompanyName = "Second"  # original object still carries SyncToken "0"
    with pytest.raises(QuickbooksException) as err:
        saved.save(qb=qb)
    assert err.value.error_code == 5010
    body = api.post("/customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "x"}).json()
    assert body["Fault"]["Error"][0]["Message"] == "Stale Object Error"


def test_missing_synctoken_is_2020(api):
    body = api.post("/customer", {"Id": "2", "sparse": True, "Notes": "x"}).json()
    assert body["Fault"]["Error"][0]["code"] == "2020"


def test_duplicate_display_name_across_customer_vendor_employee_is_6240(qb, api):
    vendor = Vendor()
    vendor.DisplayName = "amy's bird sanctuary"  # case-insensitive
    with pytest.raises(QuickbooksException) as err:
        vendor.save(qb=qb)
    assert err.value.error_code == 6240
    body = api.post("/employee", {"DisplayName": "Books by Bessie", "GivenName": "B"}).json()
    assert body["Fault"]["Error"][0]["code"] == "6240"


def test_required_param_missing_2020(api):
    body = api.post("/customer", {"Notes": "no name at all"}).json()
    assert body["Fault"]["Error"][0]["code"] == "2020"
    body = api.post("/invoice", {"CustomerRef": {"value": "1"}}).json()
    assert body["Fault"]["Error"][0]["code"] == "2020"


def test_invalid_reference_2500(api):
    body = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "9999"},
            "Line": [
                {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    ).json()
    assert body["Fault"]["Error"][0]["code"] == "2500"
    body = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "1"},
            "Line": [
                {
                    "Amount": 1,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "9999"}},
                }
            ],
        },
    ).json()
    assert body["Fault"]["Error"][0]["code"] == "2500"


def test_deactivate_customer_appends_deleted_suffix_and_frees_the_name(api):
    created = api.create("Customer", {"DisplayName": "Thrifty Meats"})
    body = api.post("/customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False}).json()[
        "Customer"
    ]
    assert body["Active"] is False
    assert body["DisplayName"] == "Thrifty Meats (deleted)"
    assert body["FullyQualifiedName"] == "Thrifty Meats (deleted)"
    again = api.create("Customer", {"DisplayName": "Thrifty Meats"})
    assert again["Id"] != created["Id"]
    hidden = api.query("select * from Customer where DisplayName like 'Thrifty%'")
    assert [c["Id"] for c in hidden["Customer"]] == [again["Id"]]


def test_deactivating_a_customer_with_a_balance_fails(api):
    customer = api.create("Customer", {"DisplayName": "Owes Money"})
    api.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    current = api.read("Customer", customer["Id"])
    assert current["Balance"] == 10
    response = api.post(
        "/customer", {"Id": customer["Id"], "SyncToken": current["SyncToken"], "sparse": True, "Active": False}
    )
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["Message"] == "Delete List Has Balance Error"


def test_deactivate_item_vendor_employee(api):
    item = api.create("Item", {"Name": "Widget", "Type": "Service", "IncomeAccountRef": {"value": "79"}})
    done = api.post("/item", {"Id": item["Id"], "SyncToken": "0", "sparse": True, "Active": False}).json()["Item"]
    assert done["Name"] == "Widget (deleted)" and done["Active"] is False
    employee = api.read("Employee", api.query("select * from Employee")["Employee"][0]["Id"])
    done = api.post(
        "/employee", {"Id": employee["Id"], "SyncToken": employee["SyncToken"], "sparse": True, "Active": False}
    ).json()["Employee"]
    assert done["DisplayName"].endswith(" (deleted)")


def test_item_rules(api):
    body = api.post("/item", {"Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": "79"}}).json()
    assert body["Fault"]["Error"][0]["code"] == "6240"
    body = api.post("/item", {"Name": "No type"}).json()
    assert body["Fault"]["Error"][0]["code"] == "2020"
    inventory = api.create("Item", sample("item_inventory_create_request.json"))
    assert inventory["TrackQtyOnHand"] is True and inventory["QtyOnHand"] == 10


def test_term_account_paymentmethod_create(api):
    term = api.create("Term", {"Name": "Term120", "DueDays": "120"})
    assert term["DueDays"] == 120 and term["Type"] == "STANDARD"
    account = api.create("Account", {"Name": "New Bank", "AccountType": "Bank"})
    assert account["Classification"] == "Asset" and account["FullyQualifiedName"] == "New Bank"
    method = api.create("PaymentMethod", {"Name": "Bitcoin"})
    assert method["Type"] == "NON_CREDIT_CARD"


def test_delete_invoice_and_then_610(qb, api):
    saved = _invoice(qb).save(qb=qb)
    response = api.post("/invoice?operation=delete", {"Id": saved.Id, "SyncToken": saved.SyncToken})
    assert response.json()["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": saved.Id}
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(saved.Id, qb=qb)


def test_delete_with_python_quickbooks(qb):
    saved = _invoice(qb).save(qb=qb)
    saved.delete(qb=qb)
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(saved.Id, qb=qb)


def test_names_cannot_be_deleted(api):
    body = api.post("/customer?operation=delete", {"Id": "1", "SyncToken": "0"}).json()
    assert body["Fault"]["Error"][0]["code"] == "500"


def test_void_invoice_zeroes_amounts(qb, api):
    saved = _invoice(qb, amount=100).save(qb=qb)
    voided = api.post("/invoice?operation=void", {"Id": saved.Id, "SyncToken": saved.SyncToken}).json()["Invoice"]
    assert voided["SyncToken"] == "1"
    assert voided["PrivateNote"] == "Voided"
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0
    assert all(line["Amount"] == 0 for line in voided["Line"])


def test_void_with_python_quickbooks_invoice_and_payment(qb, api):
    saved = _invoice(qb, amount=40).save(qb=qb)
    saved.void(qb=qb)
    assert Invoice.get(saved.Id, qb=qb).TotalAmt == 0
    payment = api.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 10})
    response = api.post(
        "/payment?operation=update&include=void", {"Id": payment["Id"], "SyncToken": "0", "sparse": True}
    )
    assert response.json()["Payment"]["TotalAmt"] == 0


def test_send_sets_email_status_and_delivery_info(qb, api, emulator):
    saved = _invoice(qb).save(qb=qb)
    result = saved.send(qb=qb, send_to="a+b@example.com")
    sent = result["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "a+b@example.com"
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email" and sent["DeliveryInfo"]["DeliveryTime"]
    assert emulator.control.emails()[-1]["to"] == "a+b@example.com"
    body = api.post(f"/invoice/{saved.Id}/send?sendTo=not-an-email", None).json()
    assert body["Fault"]["Error"][0]["code"] == "2210"


def test_send_without_address_fails(api):
    created = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "1"},
            "Line": [
                {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    body = api.post(f"/invoice/{created['Id']}/send", None).json()
    assert "Fault" in body


def test_pdf_is_a_real_pdf_with_number_and_total(qb):
    saved = _invoice(qb, amount=123.45).save(qb=qb)
    pdf = saved.download_pdf(qb=qb)
    assert pdf.startswith(b"%PDF-1.4")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert saved.DocNumber.encode() in pdf and b"123.45" in pdf
    start = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[start : start + 4] == b"xref"


def test_requestid_replays_the_original_response(qb, api, emulator):
    first = api.post("/customer?requestid=abc-1", {"DisplayName": "Once Only"})
    second = api.post("/customer?requestid=abc-1", {"DisplayName": "Once Only"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert len(api.query("select * from Customer where DisplayName = 'Once Only'")["Customer"]) == 1
    fault_first = api.post("/customer?requestid=abc-2", {"DisplayName": "Amy's Bird Sanctuary"})
    fault_again = api.post("/customer?requestid=abc-2", {"DisplayName": "Something else"})
    assert fault_first.status_code == fault_again.status_code == 400 and fault_first.content == fault_again.content
    customer = Customer()
    customer.DisplayName = "Via Lib"
    customer.save(qb=qb, request_id="lib-1")
    customer2 = Customer()
    customer2.DisplayName = "Via Lib"
    again = customer2.save(qb=qb, request_id="lib-1")
    assert again.DisplayName == "Via Lib"
    assert emulator.control.requests(path_contains="/customer")[-1]["outcome"] == "replayed"


def test_companyinfo_and_preferences_sparse_update(api):
    info = api.get(f"/companyinfo/{api.realm_id}").json()["CompanyInfo"]
    updated = api.post(
        "/companyinfo", {"Id": info["Id"], "SyncToken": info["SyncToken"], "sparse": True, "LegalName": "Legal Co"}
    ).json()
    assert updated["CompanyInfo"]["LegalName"] == "Legal Co"
    assert updated["CompanyInfo"]["CompanyName"] == info["CompanyName"]


def test_validation_exception_for_2000_range(qb):
    customer = Customer()
    customer.DisplayName = "Bad Mail"
    customer.PrimaryEmailAddr = None
    from quickbooks.objects.base import EmailAddress

    customer.PrimaryEmailAddr = EmailAddress()
    customer.PrimaryEmailAddr.Address = "nope"
    with pytest.raises(ValidationException) as err:
        customer.save(qb=qb)
    assert err.value.error_code == 2210


def test_every_library_object_saves_with_its_defaults(qb):
    """Each python-quickbooks class's default-field bloat ("" / 0 / False) is accepted on create and round trip."""
    from quickbooks.objects.base import Ref

    account = Account()
    account.Name = "Lib Account"
    account.AccountType = "Bank"
    account = account.save(qb=qb)
    assert account.Classification == "Asset"
    term = Term()
    term.Name = "Lib Net 45"
    term.DueDays = 45
    assert term.save(qb=qb).Type == "STANDARD"
    method = PaymentMethod()
    method.Name = "Lib Method"
    assert method.save(qb=qb).Id
    vendor = Vendor()
    vendor.DisplayName = "Lib Vendor"
    vendor = vendor.save(qb=qb)
    vendor.CompanyName = "Lib Vendor Inc"
    assert vendor.save(qb=qb).SyncToken == "1"
    employee = Employee()
    employee.GivenName = "Lib"
    employee.FamilyName = "Employee"
    employee = employee.save(qb=qb)
    assert employee.DisplayName == "Lib Employee"
    item = Item()
    item.Name = "Lib Service"
    item.Type = "Service"
    income = Ref()
    income.value = "79"
    item.IncomeAccountRef = income
    item.UnitPrice = 12
    item = item.save(qb=qb)
    assert item.FullyQualifiedName == "Lib Service"
    estimate = Estimate()
    estimate.CustomerRef = Customer.get(3, qb=qb).to_ref()
    sales = SalesItemLine()
    sales.Amount = 24
    sales.SalesItemLineDetail = SalesItemLineDetail()
    sales.SalesItemLineDetail.ItemRef = item.to_ref()
    sales.SalesItemLineDetail.Qty = 2
    sales.SalesItemLineDetail.UnitPrice = 12
    estimate.Line = [sales]
    estimate = estimate.save(qb=qb)
    assert estimate.TotalAmt == 24 and estimate.TxnStatus == "Pending"
    again = Estimate.get(estimate.Id, qb=qb)
    again.PrivateNote = "round trip"
    assert again.save(qb=qb).SyncToken == "1"
    customer = Customer.get(1, qb=qb)
    customer.Notes = "round trip"
    assert customer.save(qb=qb).Notes == "round trip"


def test_inactive_references_are_610(api):
    item = api.create("Item", {"Name": "Retired", "Type": "Service", "IncomeAccountRef": {"value": "79"}})
    api.post("/item", {"Id": item["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    body = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "2"},
            "Line": [
                {
                    "Amount": 1,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                }
            ],
        },
    ).json()
    assert body["Fault"]["Error"][0]["code"] == "610"


def test_query_by_get_and_payment_void_through_the_library(api, qb):
    response = api.get("/query", params={"query": "select * from Term where Name = 'Net 30'"})
    assert response.json()["QueryResponse"]["Term"][0]["Id"] == "3"
    payment = api.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 10})
    Payment.get(payment["Id"], qb=qb).void(qb=qb)
    assert api.read("Payment", payment["Id"])["TotalAmt"] == 0


def test_unknown_property_is_2010(api):
    response = api.post("/invoice", {"CustomerRef": {"value": "2"}, "BadJson": 1, "Line": []})
    assert response.status_code == 400
    error = response.json()["Fault"]["Error"][0]
    assert error["code"] == "2010"
    assert 'Unrecognized field "BadJson"' in error["Detail"]
