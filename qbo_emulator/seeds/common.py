"""Company scaffolding every seed shares: CompanyInfo, Preferences, terms, tax codes and rates, accounts, payment
methods, plus the small builders (money, MetaData, refs, sales lines) the seed modules use (API.md §4, §9)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..facts import COMPANY_TZ, ENTITY_ORDER  # re-exported: the seed modules and tests import them from here

CENT = Decimal("0.01")
ZERO = Decimal("0")
USD = {"value": "USD", "name": "United States Dollar"}
TERM_DAYS = {"1": 0, "2": 15, "3": 30, "4": 60, "5": 10}
NET_30 = "3"
UNDEPOSITED_FUNDS = "4"
DEFAULT_MEMO = "Thank you for your business and have a great day!"


def q(value: Decimal | int | str) -> Decimal:
    """Money to cents, half up (DESIGN.md §4)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def ref(value: str, name: str | None = None) -> dict[str, str]:
    """A QBO reference: ``{"value": id, "name": label}`` (API.md §4)."""
    return {"value": value, "name": name} if name is not None else {"value": value}


def stamp(moment: dt.datetime) -> str:
    """MetaData time format: company offset, no fraction (``2015-07-23T10:58:12-07:00``)."""
    return moment.astimezone(COMPANY_TZ).replace(microsecond=0).isoformat()


def at(day: dt.date, seconds: int = 9 * 3600) -> dt.datetime:
    """A moment on ``day`` in the company's zone, ``seconds`` after midnight (business hours by default)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=COMPANY_TZ) + dt.timedelta(seconds=seconds)


def meta(created: dt.datetime, updated: dt.datetime | None = None) -> dict[str, str]:
    return {"CreateTime": stamp(created), "LastUpdatedTime": stamp(max(created, updated or created))}


def base(obj_id: str, created: dt.datetime, updated: dt.datetime | None = None, sync_token: str = "0") -> dict:  # noqa: S107
    """The fields every stored object carries (API.md §4): Id, SyncToken, domain, sparse, MetaData."""
    return {"Id": obj_id, "SyncToken": sync_token, "domain": "QBO", "sparse": False, "MetaData": meta(created, updated)}


def sales_line(
    line_id: int,
    item: dict,
    qty: Decimal | int | str,
    unit_price: Decimal | str | None = None,
    *,
    taxable: bool = False,
    description: str | None = None,
) -> dict:
    """A ``SalesItemLineDetail`` line with ``Amount = q(Qty × UnitPrice)`` (API.md §4.3)."""
    qty = Decimal(str(qty))
    price = Decimal(str(unit_price)) if unit_price is not None else Decimal(item.get("UnitPrice", ZERO))
    return {
        "Id": str(line_id),
        "LineNum": line_id,
        "Description": description or item.get("Description") or item["Name"],
        "Amount": q(qty * price),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": ref(item["Id"], item["Name"]),
            "Qty": qty,
            "UnitPrice": price,
            "TaxCodeRef": ref("TAX" if taxable else "NON"),
        },
    }


def tax_detail(lines: list[dict], rate: Decimal, tax_code: str = "2", tax_rate: str = "3") -> dict:
    """``TxnTaxDetail`` for the lines marked ``TAX``: one TaxLine at ``rate`` percent (API.md §4.3, invoice sample)."""
    taxable = sum(
        (line["Amount"] for line in lines if line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"), ZERO
    )
    if not taxable:
        return {"TotalTax": ZERO}
    tax = q(taxable * rate / 100)
    return {
        "TxnTaxCodeRef": ref(tax_code),
        "TotalTax": tax,
        "TaxLine": [
            {
                "Amount": tax,
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": ref(tax_rate),
                    "PercentBased": True,
                    "TaxPercent": rate,
                    "NetAmountTaxable": taxable,
                },
            }
        ],
    }


def txn_total(txn: dict) -> Decimal:
    """What the server derives as TotalAmt: the sales lines plus the tax (no discounts in the seeds)."""
    lines = sum((line["Amount"] for line in txn["Line"] if line["DetailType"] == "SalesItemLineDetail"), ZERO)
    return q(lines + Decimal(txn.get("TxnTaxDetail", {}).get("TotalTax", ZERO)))


# ------------------------------------------------------------------------------------------------ scaffolding

#: (Id, Name, AccountType, AccountSubType, parent Id or None); sandbox ids where §9 names them.
ACCOUNTS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("1", "Services", "Income", "ServiceFeeIncome", None),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", None),
    ("7", "Advertising", "Expense", "AdvertisingPromotional", None),
    ("33", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", None),
    ("35", "Checking", "Bank", "Checking", None),
    ("36", "Savings", "Bank", "Savings", None),
    ("45", "Landscaping Services", "Income", "ServiceFeeIncome", None),
    ("46", "Job Materials", "Income", "ServiceFeeIncome", "45"),
    ("48", "Fountains and Garden Lighting", "Income", "ServiceFeeIncome", "46"),
    ("49", "Plants and Soil", "Income", "ServiceFeeIncome", "46"),
    ("50", "Sprinklers and Drip Systems", "Income", "ServiceFeeIncome", "46"),
    ("52", "Labor", "Income", "ServiceFeeIncome", "45"),
    ("53", "Installation", "Income", "ServiceFeeIncome", "52"),
    ("54", "Pest Control Services", "Income", "OtherPrimaryIncome", None),
    ("58", "Maintenance and Repair", "Expense", "RepairMaintenance", None),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome", None),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", None),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory", None),
    ("82", "Design income", "Income", "ServiceFeeIncome", None),
    ("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", None),
    ("85", "Refunds-Allowances", "Income", "DiscountsRefundsGiven", None),
    ("86", "Discounts given", "Income", "DiscountsRefundsGiven", None),
    ("89", "Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable", None),
)
_CLASSIFICATION = {
    "Income": "Revenue",
    "Expense": "Expense",
    "Cost of Goods Sold": "Expense",
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Accounts Payable": "Liability",
    "Other Current Liability": "Liability",
}

TERMS = (("1", "Due on receipt"), ("2", "Net 15"), ("3", "Net 30"), ("4", "Net 60"), ("5", "Net 10"))
PAYMENT_METHODS = (
    ("1", "Cash", "NON_CREDIT_CARD"),
    ("2", "Check", "NON_CREDIT_CARD"),
    ("3", "Visa", "CREDIT_CARD"),
    ("4", "MasterCard", "CREDIT_CARD"),
    ("5", "Discover", "CREDIT_CARD"),
    ("6", "American Express", "CREDIT_CARD"),
    ("7", "Diners Club", "CREDIT_CARD"),
)


def account_fqn(account_id: str) -> str:
    by_id = {a[0]: a for a in ACCOUNTS}
    parts, cur = [], by_id[account_id]
    while cur:
        parts.append(cur[1])
        cur = by_id[cur[4]] if cur[4] else None
    return ":".join(reversed(parts))


def scaffold(
    *,
    realm_id: str,
    company_name: str,
    legal_name: str,
    address: dict[str, str],
    phone: str,
    email: str,
    web: str | None,
    industry: str,
    tax_name: str,
    tax_percent: Decimal,
    email_company: str,
    created: dt.datetime,
) -> dict[str, list[dict]]:
    """CompanyInfo, Preferences, Term, TaxCode, TaxRate, Account and PaymentMethod lists for one company."""
    addr = {"Id": "1", **address, "Country": "US"}
    company = {
        **base("1", created, created + dt.timedelta(days=1), "4"),
        "CompanyName": company_name,
        "LegalName": legal_name,
        "CompanyAddr": dict(addr),
        "CustomerCommunicationAddr": dict(addr),
        "LegalAddr": dict(addr),
        "PrimaryPhone": {"FreeFormNumber": phone},
        "CompanyStartDate": created.date().isoformat(),
        "FiscalYearStartMonth": "January",
        "Country": "US",
        "Email": {"Address": email},
        "WebAddr": {"URI": web} if web else {},
        "SupportedLanguages": "en",
        "DefaultTimeZone": "America/Los_Angeles",
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IndustryType", "Value": industry},
            {"Name": "SubscriptionStatus", "Value": "PAID"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
            {"Name": "PayrollFeature", "Value": "false"},
            {"Name": "AccountantFeature", "Value": "false"},
            {"Name": "ItemCategoriesFeature", "Value": "false"},
        ],
    }
    preferences = {
        **base("1", created, created + dt.timedelta(days=1), "5"),
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "SalesFormsPrefs": {
            "CustomField": [
                {
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": True}
                    ]
                },
                {
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Crew #"}
                    ]
                },
            ],
            "CustomTxnNumbers": True,
            "AllowDeposit": True,
            "AllowDiscount": True,
            "DefaultDiscountAccount": "86",
            "AllowEstimates": True,
            "EstimateMessage": "Please review the estimate below.  Feel free to contact us if you have any questions.",
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionPaymentEnabled": False,
            "IPNSupportEnabled": False,
            "AllowServiceDate": False,
            "AllowShipping": False,
            "DefaultTerms": ref(NET_30),
            "DefaultCustomerMessage": DEFAULT_MEMO,
            "AutoApplyCredit": True,
            "AutoApplyPayments": True,
            "PrintItemWithZeroAmount": False,
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": {
                "Subject": f"Invoice [Invoice No.] from {email_company}",
                "Message": f"Your invoice is attached.  Please remit payment at your earliest convenience.\n"
                f"Thank you for your business - we appreciate it very much.\n\nSincerely,\n{email_company}",
            },
            "EstimateMessage": {
                "Subject": f"Estimate [Estimate No.] from {email_company}",
                "Message": f"Please review the estimate below.  Feel free to contact us if you have any questions.\n"
                f"We look forward to working with you.\n\nSincerely,\n{email_company}",
            },
        },
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True, "POCustomField": []},
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "TaxPrefs": {"UsingSalesTax": True, "TaxGroupCodeRef": ref("2"), "PartnerTaxEnabled": True},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {
            "NameValue": [
                {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": DEFAULT_MEMO},
                {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
                {"Name": "DTXCopyMemo", "Value": "false"},
                {"Name": "UncategorizedAssetAccountId", "Value": "32"},
            ]
        },
    }
    terms = [
        {
            **base(term_id, created),
            "Name": name,
            "Active": True,
            "Type": "STANDARD",
            "DueDays": TERM_DAYS[term_id],
            "DiscountPercent": ZERO,
            "DiscountDays": 0,
        }
        for term_id, name in TERMS
    ]
    tax_rate = {
        **base("3", created),
        "Name": tax_name,
        "Description": f"{tax_name} sales tax",
        "Active": True,
        "RateValue": tax_percent,
        "AgencyRef": ref("1"),
        "SpecialTaxType": "NONE",
        "DisplayType": "ReadOnly",
        "EffectiveTaxRate": [{"RateValue": tax_percent, "EffectiveDate": "2014-09-01T00:00:00-07:00"}],
    }
    tax_codes = [
        {
            **base("TAX", created),
            "Name": "TAX",
            "Description": "TAX",
            "Active": True,
            "Taxable": True,
            "TaxGroup": False,
        },
        {
            **base("NON", created),
            "Name": "NON",
            "Description": "NON",
            "Active": True,
            "Taxable": False,
            "TaxGroup": False,
        },
        {
            **base("2", created),
            "Name": tax_name,
            "Description": f"{tax_name} sales tax",
            "Active": True,
            "Taxable": True,
            "TaxGroup": True,
            "SalesTaxRateList": {
                "TaxRateDetail": [{"TaxRateRef": ref("3", tax_name), "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]
            },
            "PurchaseTaxRateList": {"TaxRateDetail": []},
        },
    ]
    accounts = []
    for acc_id, name, acc_type, sub_type, parent in ACCOUNTS:
        account = {
            **base(acc_id, created),
            "Name": name,
            "SubAccount": parent is not None,
            "FullyQualifiedName": account_fqn(acc_id),
            "Active": True,
            "Classification": _CLASSIFICATION[acc_type],
            "AccountType": acc_type,
            "AccountSubType": sub_type,
            "CurrentBalance": ZERO,
            "CurrentBalanceWithSubAccounts": ZERO,
            "CurrencyRef": dict(USD),
        }
        if parent:
            account["ParentRef"] = ref(parent)
        accounts.append(account)
    methods = [
        {**base(pm_id, created), "Name": name, "Active": True, "Type": pm_type}
        for pm_id, name, pm_type in PAYMENT_METHODS
    ]
    return {
        "CompanyInfo": [company],
        "Preferences": [preferences],
        "Term": terms,
        "TaxCode": tax_codes,
        "TaxRate": [tax_rate],
        "Account": accounts,
        "PaymentMethod": methods,
    }


def ordered(entities: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Every entity key present, in dependency order."""
    return {name: entities.get(name, []) for name in ENTITY_ORDER}


def item(
    item_id: str,
    name: str,
    created: dt.datetime,
    *,
    item_type: str = "Service",
    price: str | Decimal = "0",
    description: str | None = None,
    income: str = "1",
    taxable: bool = False,
    cost: str | Decimal | None = None,
    qty_on_hand: int | None = None,
    sku: str | None = None,
) -> dict[str, Any]:
    """An Item as QBO returns it (API.md §4.2): inventory items track quantity with asset/COGS accounts."""
    obj: dict[str, Any] = {
        **base(item_id, created),
        "Name": name,
        "FullyQualifiedName": name,
        "Active": True,
        "Type": item_type,
        "UnitPrice": Decimal(str(price)),
        "Taxable": taxable,
        "IncomeAccountRef": ref(income, account_fqn(income)),
        "PurchaseCost": Decimal(str(cost)) if cost is not None else ZERO,
        "TrackQtyOnHand": item_type == "Inventory",
    }
    if description:
        obj["Description"] = description
    if sku:
        obj["Sku"] = sku
    if item_type == "Inventory":
        obj["QtyOnHand"] = Decimal(qty_on_hand or 0)
        obj["InvStartDate"] = created.date().isoformat()
        obj["AssetAccountRef"] = ref("81", "Inventory Asset")
        obj["ExpenseAccountRef"] = ref("80", "Cost of Goods Sold")
    elif item_type in ("Service", "NonInventory") and cost is not None:
        obj["ExpenseAccountRef"] = ref("80", "Cost of Goods Sold")
    return obj


def clamp_past(moment: dt.datetime, now: dt.datetime) -> dt.datetime:
    return min(moment, now - dt.timedelta(minutes=5))


EMPTY_REALM_ID = "9130350000000001"


def build_empty(today: dt.date) -> dict[str, Any]:
    """The ``empty`` seed: a new company with only its scaffolding (no items, names or transactions)."""
    created = at(today - dt.timedelta(days=30), 10 * 3600)
    entities = scaffold(
        realm_id=EMPTY_REALM_ID,
        company_name="Empty Test Company",
        legal_name="Empty Test Company LLC",
        address={"Line1": "1 Test Plaza", "City": "Boston", "CountrySubDivisionCode": "MA", "PostalCode": "02110"},
        phone="(617) 555-0100",
        email="owner@emptytest.example",
        web=None,
        industry="Other",
        tax_name="Massachusetts",
        tax_percent=Decimal("6.25"),
        email_company="Empty Test Company",
        created=created,
    )
    return {"realm_id": EMPTY_REALM_ID, "company_name": "Empty Test Company", "entities": ordered(entities)}
