"""Suite-wide fixtures: database flavour markers."""

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (select_for_update and real concurrency are no-ops on SQLite)")
    for item in items:
        if "postgres" in item.keywords and connection.vendor != "postgresql":
            item.add_marker(skip_pg)
