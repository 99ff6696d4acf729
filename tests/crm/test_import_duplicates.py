"""The contact CSV import warns (without blocking) when a row's phone or e-mail is already a contact's."""

import pytest

from crm.models import Contact

from .factories import ContactFactory
from .test_import import HEADER, _confirm, _dry_run

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_rows_with_an_existing_phone_or_email_import_with_a_warning(staff_client):
    jane = ContactFactory(first_name="Jane", last_name="Doe", phone="(617) 555-0134", email="jane@example.com")
    rows = (
        "Janet,Doe,,+1 617-555-0134,,,Quincy,MA,02169,referral\n"  # Jane's number, typed otherwise
        "Bob,Smith,,781-555-0111,,JANE@example.com ,Quincy,MA,02169,referral\n"  # Jane's e-mail
        "Ann,Lee,,508-555-0122,,ann@example.com,Quincy,MA,02169,referral\n"  # new
        "Al,Lee,,,508.555.0122,,Quincy,MA,02169,referral\n"  # Ann's number, from row 3 of this file
    )

    preview = _dry_run(staff_client, "contact", HEADER + rows)

    assert not preview.context["result"].has_validation_errors()
    warning = " ".join(_messages(preview))
    assert f"Jane Doe (#{jane.pk})" in warning
    assert "Row 1: phone +1 617-555-0134" in warning and "Row 2: email jane@example.com" in warning
    assert "Row 4: phone 508.555.0122 is already on row 3 of this file" in warning
    assert "Row 3" not in warning

    response = _confirm(staff_client, "contact", preview)
    assert response.status_code == 302
    assert Contact.objects.count() == 5  # a warning, never a block
    followed = staff_client.get(response["Location"])
    assert any("share a phone or e-mail" in m for m in _messages(followed))


def test_reimporting_a_contact_by_its_id_does_not_warn_about_itself(staff_client):
    jane = ContactFactory(first_name="Jane", last_name="Doe", phone="(617) 555-0134", email="jane@example.com")
    header = "id," + HEADER
    row = f"{jane.pk},Jane,Doe,,(617) 555-0134,,jane@example.com,Boston,MA,02110,referral\n"

    preview = _dry_run(staff_client, "contact", header + row)

    assert not any("share a phone" in m for m in _messages(preview))
