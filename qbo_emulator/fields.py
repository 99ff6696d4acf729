"""Property vocabularies per entity, read by the facts table (`facts.py`).

`KNOWN_*`: the top-level properties QBO accepts on input (an unknown one is 400/2010), from python-quickbooks,
samples and docs. `DOCUMENTED_*`: the properties a query may name (Intuit API reference "filterable"/"sortable"
attributes), so a filter on a property no stored row happens to carry is still valid."""

# What an Estimate and an Invoice share: both are QBO sales forms (API.md §4.3–4.4).
_SALES_FORM = frozenset(
    {
        "ApplyTaxAfterDiscount",
        "AutoDocNumber",
        "Balance",
        "BillAddr",
        "BillEmail",
        "BillEmailBcc",
        "ClassRef",
        "ConvenienceFeeDetail",
        "CurrencyRef",
        "CustomField",
        "CustomerMemo",
        "CustomerRef",
        "DeliveryInfo",
        "DepartmentRef",
        "DepositToAccountRef",
        "DiscountRate",
        "DocNumber",
        "DueDate",
        "ECloudStatusTimeStamp",
        "EInvoiceStatus",
        "EmailStatus",
        "ExchangeRate",
        "FOB",
        "FreeFormAddress",
        "GlobalTaxCalculation",
        "HomeTotalAmt",
        "Id",
        "InvoiceEx",
        "LessCIS",
        "Line",
        "LinkedTxn",
        "MetaData",
        "PONumber",
        "PaymentDetailsMessage",
        "PaymentMethodRef",
        "PaymentRefNum",
        "PrintStatus",
        "PrivateNote",
        "ProjectRef",
        "RecurDataRef",
        "RecurringInfo",
        "RemitToRef",
        "SalesRepRef",
        "SalesTermRef",
        "ShipAddr",
        "ShipDate",
        "ShipFromAddr",
        "ShipMethodRef",
        "SyncToken",
        "Tag",
        "TaxFormNum",
        "TaxFormType",
        "TotalAmt",
        "TrackingNum",
        "TransactionLocationType",
        "TxnApprovalInfo",
        "TxnDate",
        "TxnSource",
        "TxnStatus",
        "TxnTaxDetail",
        "callToAction",
        "domain",
        "invoiceStatusLog",
        "sparse",
        "status",
    }
)

# ------------------------------------------------------------------ known on input (2010 otherwise)
KNOWN_ACCOUNT = frozenset(
    {
        "AccountSubType",
        "AccountType",
        "AcctNum",
        "Active",
        "Classification",
        "CurrencyRef",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "Description",
        "FullyQualifiedName",
        "Id",
        "MetaData",
        "Name",
        "ParentRef",
        "SubAccount",
        "SyncToken",
        "TaxCodeRef",
        "domain",
        "sparse",
    }
)
KNOWN_CUSTOMER = frozenset(
    {
        "ARAccountRef",
        "Active",
        "AlternatePhone",
        "Balance",
        "BalanceWithJobs",
        "BillAddr",
        "BillWithParent",
        "BusinessNumber",
        "ClientEntityId",
        "CompanyName",
        "CurrencyRef",
        "CustomerTypeRef",
        "DefaultTaxCodeRef",
        "DisplayName",
        "FamilyName",
        "Fax",
        "FullyQualifiedName",
        "GSTIN",
        "GivenName",
        "Id",
        "IsProject",
        "Job",
        "Level",
        "MetaData",
        "MiddleName",
        "Mobile",
        "Notes",
        "OpenBalanceDate",
        "ParentRef",
        "PaymentMethodRef",
        "PreferredDeliveryMethod",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "PrimaryTaxIdentifier",
        "PrintOnCheckName",
        "ResaleNum",
        "SalesTermRef",
        "SecondaryTaxIdentifier",
        "ShipAddr",
        "Source",
        "Suffix",
        "SyncToken",
        "TaxExemptionReasonId",
        "Taxable",
        "Title",
        "WebAddr",
        "domain",
        "sparse",
    }
)
KNOWN_EMPLOYEE = frozenset(
    {
        "Active",
        "BillRate",
        "BillableTime",
        "BirthDate",
        "CostRate",
        "DisplayName",
        "EmailAddress",
        "EmployeeNumber",
        "FamilyName",
        "Gender",
        "GivenName",
        "HiredDate",
        "Id",
        "MetaData",
        "MiddleName",
        "Mobile",
        "Organization",
        "PrimaryAddr",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "PrintOnCheckName",
        "ReleasedDate",
        "SSN",
        "Suffix",
        "SyncToken",
        "Title",
        "domain",
        "sparse",
    }
)
KNOWN_ESTIMATE = _SALES_FORM | frozenset({"AcceptedBy", "AcceptedDate", "ExpirationDate"})
KNOWN_INVOICE = _SALES_FORM | frozenset(
    {
        "AllowIPNPayment",
        "AllowOnlineACHPayment",
        "AllowOnlineCreditCardPayment",
        "AllowOnlinePayment",
        "BillEmailCc",
        "Deposit",
        "HomeBalance",
        "InvoiceLink",
        "TaxExemptionRef",
    }
)
KNOWN_ITEM = frozenset(
    {
        "AbatementRate",
        "Active",
        "AssetAccountRef",
        "ClassRef",
        "Description",
        "ExpenseAccountRef",
        "FullyQualifiedName",
        "Id",
        "IncomeAccountRef",
        "InvStartDate",
        "ItemCategoryType",
        "ItemEx",
        "Level",
        "MetaData",
        "Name",
        "ParentRef",
        "PrefVendorRef",
        "PurchaseCost",
        "PurchaseDesc",
        "PurchaseTaxCodeRef",
        "PurchaseTaxIncluded",
        "QtyOnHand",
        "ReverseChargeRate",
        "SalesTaxCodeRef",
        "SalesTaxIncluded",
        "ServiceType",
        "Sku",
        "SubItem",
        "SyncToken",
        "TaxClassificationRef",
        "Taxable",
        "TrackQtyOnHand",
        "Type",
        "UQCDisplayText",
        "UQCId",
        "UnitPrice",
        "domain",
        "sparse",
    }
)
KNOWN_PAYMENT = frozenset(
    {
        "ARAccountRef",
        "CreditCardPayment",
        "CurrencyRef",
        "CustomerRef",
        "DepositToAccountRef",
        "ExchangeRate",
        "Id",
        "Line",
        "MetaData",
        "PaymentMethodRef",
        "PaymentRefNum",
        "PrivateNote",
        "ProcessPayment",
        "ProjectRef",
        "SyncToken",
        "TaxExemptionRef",
        "TotalAmt",
        "TransactionLocationType",
        "TxnDate",
        "TxnSource",
        "TxnStatus",
        "UnappliedAmt",
        "domain",
        "sparse",
        "status",
    }
)
KNOWN_PAYMENT_METHOD = frozenset({"Active", "Id", "MetaData", "Name", "SyncToken", "Type", "domain", "sparse"})
KNOWN_TERM = frozenset(
    {
        "Active",
        "DayOfMonthDue",
        "DiscountDayOfMonth",
        "DiscountDays",
        "DiscountPercent",
        "DueDays",
        "DueNextMonthDays",
        "Id",
        "MetaData",
        "Name",
        "SyncToken",
        "Type",
        "domain",
        "sparse",
    }
)
KNOWN_VENDOR = frozenset(
    {
        "APAccountRef",
        "AcctNum",
        "Active",
        "AlternatePhone",
        "Balance",
        "BillAddr",
        "BillRate",
        "CompanyName",
        "CurrencyRef",
        "DisplayName",
        "FamilyName",
        "Fax",
        "GivenName",
        "Id",
        "MetaData",
        "MiddleName",
        "Mobile",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "PrintOnCheckName",
        "Suffix",
        "SyncToken",
        "TaxIdentifier",
        "TaxReportingBasis",
        "TermRef",
        "Title",
        "Vendor1099",
        "WebAddr",
        "domain",
        "sparse",
    }
)


# ------------------------------------------------------------------ documented for queries (4001 otherwise)
def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


_COMMON = "Id SyncToken MetaData domain sparse"
_TXN = """DocNumber TxnDate CustomerRef TotalAmt Line LinkedTxn PrivateNote CurrencyRef TxnTaxDetail CustomerMemo
    BillAddr ShipAddr BillEmail SalesTermRef DueDate PrintStatus EmailStatus CustomField ClassRef DepartmentRef
    ApplyTaxAfterDiscount ShipDate"""
_PERSON = """DisplayName Title GivenName MiddleName FamilyName Suffix CompanyName PrintOnCheckName PrimaryPhone Mobile
    AlternatePhone Fax PrimaryEmailAddr WebAddr Active Balance"""

DOCUMENTED_CUSTOMER = _words(
    _COMMON,
    _PERSON,
    """FullyQualifiedName BalanceWithJobs Job ParentRef Level BillWithParent BillAddr ShipAddr Taxable
    DefaultTaxCodeRef SalesTermRef PaymentMethodRef PreferredDeliveryMethod Notes CurrencyRef IsProject
    CustomerTypeRef ResaleNum OpenBalanceDate""",
)
DOCUMENTED_VENDOR = _words(_COMMON, _PERSON, "BillAddr Vendor1099 AcctNum CurrencyRef TermRef")
DOCUMENTED_EMPLOYEE = _words(_COMMON, _PERSON, "PrimaryAddr EmployeeNumber SSN BillableTime HiredDate")
DOCUMENTED_ITEM = _words(
    _COMMON,
    """Name FullyQualifiedName Sku Type Description PurchaseDesc UnitPrice PurchaseCost Taxable SalesTaxIncluded
    Active TrackQtyOnHand QtyOnHand InvStartDate IncomeAccountRef ExpenseAccountRef AssetAccountRef SubItem ParentRef
    Level""",
)
DOCUMENTED_ESTIMATE = _words(_COMMON, _TXN, "TxnStatus ExpirationDate AcceptedBy AcceptedDate")
DOCUMENTED_INVOICE = _words(_COMMON, _TXN, "Balance Deposit AllowOnlinePayment InvoiceLink DeliveryInfo")
DOCUMENTED_PAYMENT = _words(
    _COMMON,
    """TxnDate CustomerRef TotalAmt UnappliedAmt Line PaymentRefNum PaymentMethodRef DepositToAccountRef
    ARAccountRef PrivateNote CurrencyRef ProcessPayment TxnStatus""",
)
DOCUMENTED_TERM = _words(
    _COMMON,
    """Name Active Type DueDays DayOfMonthDue DueNextMonthDays DiscountPercent DiscountDays
    DiscountDayOfMonth""",
)
DOCUMENTED_ACCOUNT = _words(
    _COMMON,
    """Name FullyQualifiedName Active AccountType AccountSubType Classification CurrentBalance
    CurrentBalanceWithSubAccounts AcctNum SubAccount ParentRef Description CurrencyRef""",
)
DOCUMENTED_TAX_CODE = _words(_COMMON, "Name Description Active Taxable TaxGroup SalesTaxRateList PurchaseTaxRateList")
DOCUMENTED_TAX_RATE = _words(_COMMON, "Name Description Active RateValue AgencyRef SpecialTaxType DisplayType")
DOCUMENTED_PAYMENT_METHOD = _words(_COMMON, "Name Active Type")
DOCUMENTED_COMPANY_INFO = _words(
    _COMMON,
    """CompanyName LegalName CompanyAddr LegalAddr Country Email PrimaryPhone WebAddr FiscalYearStartMonth
    CompanyStartDate SupportedLanguages NameValue""",
)
DOCUMENTED_PREFERENCES = _words(
    _COMMON,
    """AccountingInfoPrefs SalesFormsPrefs ProductAndServicesPrefs CurrencyPrefs TaxPrefs OtherPrefs
    EmailMessagesPrefs TimeTrackingPrefs VendorAndPurchasesPrefs ReportPrefs""",
)
