"""CRM test fixtures: one logged-in admin client per role (the groups come from the roles migration)."""

import pytest
from django.test import Client

from crm.roles import BOOKKEEPER, OWNER, STAFF

from .factories import UserFactory


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bookkeeper(db):
    return UserFactory(username="bookkeeper", groups=[BOOKKEEPER])


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", groups=[STAFF])


@pytest.fixture
def owner(db):
    return UserFactory(username="owner", groups=[OWNER])


@pytest.fixture
def superuser(db):
    return UserFactory(username="admin", is_superuser=True)


@pytest.fixture
def bookkeeper_client(bookkeeper) -> Client:
    return _client_for(bookkeeper)


@pytest.fixture
def staff_client(staff) -> Client:
    return _client_for(staff)


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client_for(superuser)
