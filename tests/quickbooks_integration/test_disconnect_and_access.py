"""Disconnect (revoke, clear, keep history) and who may do what (RELIABILITY A9, E3; issue 4)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from quickbooks_integration.models import AuditEvent, QuickBooksAuth, SyncRun

pytestmark = pytest.mark.django_db


def test_disconnect_revokes_clears_tokens_and_keeps_history(connected, emulator, su_client):
    response = su_client.post("/quickbooks/disconnect/", follow=True)

    assert emulator.control.count("/oauth2/v1/tokens/revoke", "POST") == 1
    row = QuickBooksAuth.objects.get()
    assert row.status == QuickBooksAuth.Status.DISCONNECTED
    assert row.access_token is None and row.refresh_token is None and row.expires_at is None
    assert row.company_id == connected.company_id and SyncRun.objects.filter(connection=row).exists()
    assert b"Disconnected from QuickBooks." in response.content
    assert b'id="qbo-connect"' in response.content  # the Connect button comes back
    event = AuditEvent.objects.get(action="disconnect")
    assert event.outcome == "success" and event.actor.username == "root"
    # the revoked grant no longer refreshes at the emulator
    token = emulator.control.issue_tokens()  # a fresh, unrelated grant still works
    assert token["access_token"]


def test_revoke_failure_still_disconnects_locally_with_a_warning(connected, emulator, su_client):
    emulator.control.fail_next("/oauth2/v1/tokens/revoke", status=500)

    response = su_client.post("/quickbooks/disconnect/", follow=True)

    row = QuickBooksAuth.objects.get()
    assert row.status == QuickBooksAuth.Status.DISCONNECTED and row.refresh_token is None
    assert b"did not confirm the revoke" in response.content
    assert AuditEvent.objects.get(action="disconnect").outcome == "warning"


def test_disconnect_needs_post(connected, su_client):
    assert su_client.get("/quickbooks/disconnect/").status_code == 405
    assert su_client.get("/quickbooks/connect/").status_code == 405
    assert QuickBooksAuth.objects.get().status == QuickBooksAuth.Status.CONNECTED


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staffer", password="pw-staff-12345", is_staff=True)
    user.groups.add(Group.objects.get(name="Staff"))
    client.force_login(user)
    return client


def test_staff_gets_403_on_connect_disconnect_callback_and_page(connected, emulator, staff_client):
    assert staff_client.post("/quickbooks/connect/").status_code == 403
    assert staff_client.post("/quickbooks/disconnect/").status_code == 403
    assert staff_client.post("/quickbooks/test/").status_code == 403
    assert staff_client.get("/quickbooks/callback/?code=x&state=y&realmId=1").status_code == 403
    assert staff_client.get("/admin/quickbooks_integration/quickbooksauth/").status_code == 403
    assert emulator.control.count("/oauth2/v1/tokens/revoke") == 0
    assert QuickBooksAuth.objects.get().status == QuickBooksAuth.Status.CONNECTED


def test_anonymous_callback_goes_to_login_without_the_code(client):
    response = client.get("/quickbooks/callback/?code=SECRETCODE&state=s&realmId=1")
    assert response.status_code == 302
    assert "SECRETCODE" not in response["Location"]
    assert response["Location"].startswith("/admin/login/")


def test_bookkeeper_sees_the_page_and_can_test_but_not_connect(connected, emulator, client, django_user_model):
    user = django_user_model.objects.create_user("books", password="pw-books-12345", is_staff=True)
    user.groups.add(Group.objects.get(name="Bookkeeper"))
    client.force_login(user)

    page = client.get("/admin/quickbooks_integration/quickbooksauth/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Sandbox Company_US_1" in html
    assert 'id="qbo-test"' in html and 'id="qbo-disconnect"' not in html and 'id="qbo-connect"' not in html
    assert client.post("/quickbooks/disconnect/").status_code == 403
    assert client.post("/quickbooks/connect/").status_code == 403
    assert b"is reachable" in client.post("/quickbooks/test/", follow=True).content
    assert QuickBooksAuth.objects.get().status == QuickBooksAuth.Status.CONNECTED


def test_owner_can_view_the_page(connected, client, django_user_model):
    user = django_user_model.objects.create_user("owner", password="pw-owner-12345", is_staff=True)
    user.groups.add(Group.objects.get(name="Owner"))
    client.force_login(user)
    page = client.get("/admin/quickbooks_integration/quickbooksauth/")
    assert page.status_code == 200 and 'id="qbo-test"' not in page.content.decode()


def test_test_connection_button(connected, emulator, su_client):
    response = su_client.post("/quickbooks/test/", follow=True)
    assert b"Sandbox Company_US_1 is reachable" in response.content
    emulator.control.fail_next("/companyinfo/", status=403)
    response = su_client.post("/quickbooks/test/", follow=True)
    assert b"Test connection failed" in response.content


def test_pages_send_no_store(connected, su_client):
    for response in (su_client.post("/quickbooks/connect/"), su_client.get("/quickbooks/error/?reason=no_code")):
        assert "no-store" in response["Cache-Control"]


def test_audit_events_cannot_be_edited_or_deleted(connected, su_client):
    event = AuditEvent.objects.first()
    assert su_client.post(f"/admin/quickbooks_integration/auditevent/{event.pk}/delete/").status_code == 403
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


def test_groups_carry_the_connection_permissions(db):
    def codenames(name):
        perms = Group.objects.get(name=name).permissions.filter(content_type__app_label="quickbooks_integration")
        return set(perms.values_list("codename", flat=True))

    assert codenames("Bookkeeper") == {
        "view_quickbooksauth",
        "manage_connection",
        "view_syncrun",
        "view_quickbookssync",
        "view_syncfailure",
        "retry_sync",
        "view_matchcandidate",
        "approve_match",
        "view_contactconflict",
        "change_contactconflict",
        "push_to_quickbooks",
        "view_webhookevent",
        "view_dashboards",
        "add_followuprule",
        "change_followuprule",
        "view_followuprule",
        "change_followup",
        "view_followup",
    }
    assert codenames("Owner") == {
        "view_quickbooksauth",
        "view_syncrun",
        "view_quickbookssync",
        "view_syncfailure",
        "view_matchcandidate",
        "view_contactconflict",
        "view_webhookevent",
        "view_dashboards",
        "view_followuprule",
        "view_followup",
    }
    assert codenames("Staff") == {"view_contactconflict", "push_to_quickbooks", "view_followup", "change_followup"}
