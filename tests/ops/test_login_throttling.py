"""Login throttling (django-axes, RELIABILITY E6): per username and address, a clear 429 page, a cool-off, an
admin list of lockouts; another user or another address is not locked out by someone else's failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = 0.25  # hours


@pytest.fixture
def bea(django_user_model):
    return django_user_model.objects.create_user("bea", password="right-password-42", is_staff=True)


def login(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failures_lock_the_username_from_that_address_with_a_clear_429(client, bea):
    for _ in range(4):
        assert login(client, "bea", "wrong").status_code == 200  # the form again, with its error
    locked = login(client, "bea", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content and b"bea" in locked.content
    # Even the right password is refused while locked: this is what stopped the 60-guesses-then-in attack.
    assert login(client, "bea", "right-password-42").status_code == 429
    assert "_auth_user_id" not in client.session

    # Another address, or another user from the same address, is not locked.
    assert login(Client(), "bea", "right-password-42", address="198.51.100.9").status_code == 302
    assert login(Client(), "other", "wrong").status_code == 200


def test_the_lock_clears_after_the_cool_off(client, bea):
    for _ in range(5):
        login(client, "bea", "wrong")
    assert login(client, "bea", "right-password-42").status_code == 429
    # The clock moves past the 15-minute cool-off: age the recorded attempts instead of sleeping.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = login(client, "bea", "right-password-42")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_success_resets_the_count(client, bea):
    for _ in range(4):
        login(client, "bea", "wrong")
    assert login(client, "bea", "right-password-42").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "bea", "wrong").status_code == 200


def test_superusers_see_the_lockouts_in_the_admin(client, bea, django_user_model):
    for _ in range(5):
        login(client, "bea", "wrong")
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345"))
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"203.0.113.7" in page.content and b"bea" in page.content
