"""The project's front door: the root URL leads to the admin, which carries the CRM's name."""

import pytest


def test_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_login_page_names_the_crm(client):
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert b"Attack-a-Crack CRM" in page.content
