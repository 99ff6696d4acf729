"""Pages that never strand a user: 403, 404 and 500 in the CRM's admin look with the user's name and a way back;
the OAuth error page carries the CRM's branding; every response carries the CSP and Permissions-Policy headers."""

from __future__ import annotations

import pytest

from tests.crm.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="sam", first_name="Sam", last_name="Ortiz", groups=["Staff"]))
    return client


def test_staff_opening_the_connection_page_gets_the_friendly_403(staff_client):
    response = staff_client.get("/admin/quickbooks_integration/quickbooksauth/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "You don't have access to this page" in page and "Attack-a-Crack CRM" in page
    assert 'id="error-user">Sam Ortiz' in page
    assert 'id="error-home" href="/admin/"' in page and 'id="logout-form"' in page


def test_staff_posting_connect_gets_the_friendly_403(staff_client):
    response = staff_client.post("/quickbooks/connect/")
    assert response.status_code == 403 and b'id="error-home"' in response.content


def test_404_inside_the_admin_look_with_a_way_back(staff_client, client):
    response = staff_client.get("/quickbooks/nothing-here/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and 'id="error-user">Sam Ortiz' in page and 'href="/admin/"' in page

    client.logout()
    anonymous = client.get("/no/such/page/")
    assert anonymous.status_code == 404 and b'id="error-login" href="/admin/login/"' in anonymous.content


def test_oauth_error_page_carries_the_crm_branding(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-12345"))
    response = client.get("/quickbooks/error/?reason=access_denied")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Attack-a-Crack CRM" in page and "Django administration" not in page
    assert "QuickBooks access was not granted" in page and 'id="logout-form"' in page


def test_every_page_sends_csp_and_permissions_policy(client):
    for url in ("/admin/login/", "/healthz/", "/no/such/page/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
