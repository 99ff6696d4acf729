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


def roles_restore() -> None:
    """Recreate the role groups as the migrations made them: a transactional test's flush empties every table,
    data migrations' rows included, and pytest-django runs those tests last, one after another."""
    import importlib
    import pkgutil

    from crm.roles import roles_sync

    for app in ("crm", "quickbooks_integration"):
        package = importlib.import_module(f"{app}.migrations")
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{app}.migrations.{module_info.name}")
            for name, value in vars(module).items():
                if name.startswith("ROLES") and isinstance(value, dict):
                    roles_sync(table=value)


@pytest.fixture(autouse=True)
def _roles_after_flush(request):
    """Transactional tests (browser journeys, live servers) start with the groups the migrations create."""
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        request.getfixturevalue("transactional_db")
        roles_restore()
