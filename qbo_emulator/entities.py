"""Where `Company` and its helpers were imported from before the split (issue 11); kept so that every import path
still works. The code lives in `company/` (one module per entity family), `values.py` (request values, money) and
`facts.py` (the entity facts table)."""

from .company import Company
from .company.core import COMMON_READONLY, OBJECT_NOT_FOUND_INACTIVE, _same
from .company.lists import ACCOUNT_CLASSIFICATION, ITEM_TYPES
from .company.parties import DELETED_SUFFIX, DELIVERY_METHODS
from .company.payments import _balances, _payment_applied
from .company.sales import DEFAULT_CUSTOM_FIELD, EMAIL_STATUS, ESTIMATE_STATUS, PRINT_STATUS, _infer_detail_type
from .facts import (
    ALL_ENTITIES,
    ENTITY_READONLY,
    NAME_ENTITIES,
    PARTY_ENTITIES,
    PRESERVED_ON_FULL_UPDATE,
    READONLY_ENTITIES,
    SINGLETONS,
    TXN_ENTITIES,
    URL_NAMES,
)
from .values import (
    CENT,
    INT_KEYS,
    MONEY_KEYS,
    NUMERIC_KEYS,
    REF_DROP,
    USD,
    ZERO,
    ZERO_MEANS_ABSENT,
    check_email,
    clean,
    currency,
    display_of,
    is_valid_id,
    public,
    q,
    ref_value,
    to_decimal,
)

__all__ = [
    "ACCOUNT_CLASSIFICATION",
    "ALL_ENTITIES",
    "CENT",
    "COMMON_READONLY",
    "Company",
    "DEFAULT_CUSTOM_FIELD",
    "DELETED_SUFFIX",
    "DELIVERY_METHODS",
    "EMAIL_STATUS",
    "ENTITY_READONLY",
    "ESTIMATE_STATUS",
    "INT_KEYS",
    "ITEM_TYPES",
    "MONEY_KEYS",
    "NAME_ENTITIES",
    "NUMERIC_KEYS",
    "OBJECT_NOT_FOUND_INACTIVE",
    "PARTY_ENTITIES",
    "PRESERVED_ON_FULL_UPDATE",
    "PRINT_STATUS",
    "READONLY_ENTITIES",
    "REF_DROP",
    "SINGLETONS",
    "TXN_ENTITIES",
    "URL_NAMES",
    "USD",
    "ZERO",
    "ZERO_MEANS_ABSENT",
    "_balances",
    "_infer_detail_type",
    "_payment_applied",
    "_same",
    "check_email",
    "clean",
    "currency",
    "display_of",
    "is_valid_id",
    "public",
    "q",
    "ref_value",
    "to_decimal",
]
