"""Suite-wide fixtures: database flavour markers and the in-process QuickBooks Online emulator."""

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (select_for_update and real concurrency are no-ops on SQLite)")
    for item in items:
        if "postgres" in item.keywords and connection.vendor != "postgresql":
            item.add_marker(skip_pg)


@pytest.fixture(scope="session")
def emulator_server():
    """One emulator (sandbox seed) for the whole run; tests reset it through `tests.support.emulator.emulator_use`."""
    from qbo_emulator.testing import start_emulator

    server = start_emulator(seed="sandbox")
    yield server
    server.stop()
