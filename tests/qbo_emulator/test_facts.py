"""The entity facts table (qbo_emulator/facts.py) and the import paths the split of `Company` keeps working."""

from __future__ import annotations

from qbo_emulator import clock, facts, query
from qbo_emulator.seeds import common


def test_every_entity_has_one_row_and_the_views_are_derived_from_it():
    assert set(facts.FACTS) == set(facts.ALL_ENTITIES) == set(facts.URL_NAMES.values())
    assert len(facts.ALL_ENTITIES) == 14
    assert set(facts.PARTY_ENTITIES) == {"Customer", "Vendor", "Employee"}
    assert set(facts.TXN_ENTITIES) == {"Estimate", "Invoice", "Payment"}
    assert set(facts.PARTY_ENTITIES) <= set(facts.NAME_ENTITIES)
    assert set(facts.DOCUMENTED_FIELDS) == set(facts.FACTS)


def test_queries_hide_inactive_rows_of_the_read_only_names_lists_too():
    """Two flags on purpose: TaxCode and TaxRate are names lists for queries (inactive rows hidden) but are not
    written through the API (no deactivation-as-Delete, no name index)."""
    assert query.NAME_LIST_ENTITIES - set(facts.NAME_ENTITIES) == {"TaxCode", "TaxRate"}
    assert set(facts.NAME_ENTITIES) <= query.NAME_LIST_ENTITIES


def test_the_company_time_zone_is_defined_once():
    assert clock.COMPANY_TZ is facts.COMPANY_TZ is query.COMPANY_TZ is common.COMPANY_TZ
    assert common.ENTITY_ORDER == facts.ENTITY_ORDER


def test_the_old_import_paths_still_work():
    from qbo_emulator.company import Company
    from qbo_emulator.entities import ALL_ENTITIES, MONEY_KEYS, URL_NAMES, public, q
    from qbo_emulator.entities import Company as OldCompany

    assert OldCompany is Company
    assert ALL_ENTITIES == facts.ALL_ENTITIES and URL_NAMES is facts.URL_NAMES
    assert "Amount" in MONEY_KEYS and public({"_x": 1, "Id": "1"}) == {"Id": "1"} and str(q("1.005")) == "1.01"
