"""Secrets never reach an error report: not the technical 500 page under DEBUG=True (where Django turns its own
filtering off), not the e-mail ADMINS get for a 500 with DEBUG off."""

from __future__ import annotations

import pytest
from django.core import mail

from tests.ops import urls_boom

SECRETS = [
    urls_boom.ACCESS_TOKEN, urls_boom.REFRESH_TOKEN, urls_boom.CLIENT_SECRET, urls_boom.AUTH_CODE, urls_boom.STATE,
    urls_boom.BASIC,
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.ops.urls_boom")]


def boom_url() -> str:
    return f"/boom/?code={urls_boom.AUTH_CODE}&state={urls_boom.STATE}&realmId=9341455649204247"


def test_technical_500_page_under_debug_shows_no_secret(client, settings):
    settings.DEBUG = True
    client.raise_request_exception = False
    response = client.get(boom_url(), HTTP_AUTHORIZATION=f"Bearer {urls_boom.ACCESS_TOKEN}")
    page = response.content.decode()
    assert response.status_code == 500
    assert "RuntimeError" in page and "exchange failed" in page  # it is the technical page, with its frames
    assert "9341455649204247" in page  # non-secret parameters still help the developer
    leaked = [secret for secret in SECRETS if secret in page]
    assert leaked == []
    assert "[REDACTED]" in page


def test_500_mail_to_admins_shows_no_secret(client, settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@attackacrack.example")]
    client.raise_request_exception = False
    response = client.get(boom_url())
    assert response.status_code == 500
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@attackacrack.example"]
    text = message.subject + message.body + "".join(str(alt[0]) for alt in getattr(message, "alternatives", []))
    assert "exchange failed" in text
    assert [secret for secret in SECRETS if secret in text] == []


def test_the_500_page_itself_is_the_crm_page_with_a_way_back(client, django_user_model, settings):
    settings.DEBUG = False
    user = django_user_model.objects.create_user("bea", password="pw-12345-bea", is_staff=True, first_name="Bea")
    client.force_login(user)
    client.raise_request_exception = False
    response = client.get(boom_url())
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and "Attack-a-Crack CRM" in page
    assert 'id="error-user">Bea' in page and 'href="/admin/"' in page
    assert urls_boom.AUTH_CODE not in page
