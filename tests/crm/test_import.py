"""CSV import through the admin (preview, then confirm): all rows or none, errors named by row and field."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from import_export.tmp_storages import TempFolderStorage

from crm.models import Activity, Contact, Product

from .factories import ContactFactory

pytestmark = pytest.mark.django_db

HEADER = "first_name,last_name,company_name,phone,mobile_phone,email,city,state,zip_code,source\n"
GOOD_ROWS = (
    "Jane,Doe,,(617) 555-0134,,Jane.Doe@Example.com ,Quincy,MA,02169,phone_system\n"
    "John,Doe,,+1 617-555-0134,617.555.0199,john@example.com,Quincy,MA,02169,referral\n"
    "Acme,,Acme Property Mgmt,617.555.0177,,OFFICE@ACME.example,Boston,MA,02110,web_form\n"
)
BAD_ROW = "Bob,Smith,,6175550100,,not-an-email,Newton,MA,02458,phone_system\n"


def _csv_index(client, import_url: str) -> str:
    """The format field is an index into the formats available at runtime (STACK §2): read it from the form."""
    form = client.get(import_url).context["form"]
    return next(value for value, label in form.fields["format"].choices if label.lower() == "csv")


def _dry_run(client, model: str, content: str):
    import_url = reverse(f"admin:crm_{model}_import")
    upload = SimpleUploadedFile(f"{model}.csv", content.encode(), content_type="text/csv")
    return client.post(import_url, {"format": _csv_index(client, import_url), "import_file": upload, "resource": "0"})


def _confirm(client, model: str, dry_run_response):
    confirm_form = dry_run_response.context["confirm_form"]
    data = {name: confirm_form.initial.get(name, "") for name in confirm_form.fields}
    return client.post(reverse(f"admin:crm_{model}_process_import"), data)


def test_good_file_previews_then_imports_normalized(staff_client):
    preview = _dry_run(staff_client, "contact", HEADER + GOOD_ROWS)
    assert preview.status_code == 200
    assert not preview.context["result"].has_errors()
    assert not preview.context["result"].has_validation_errors()
    assert Contact.objects.count() == 0  # the preview wrote nothing

    response = _confirm(staff_client, "contact", preview)
    assert response.status_code == 302
    contacts = {c.first_name: c for c in Contact.objects.all()}
    assert len(contacts) == 3
    assert contacts["Jane"].phone == "(617) 555-0134"
    assert contacts["Jane"].phone_e164 == contacts["John"].phone_e164 == "+16175550134"
    assert contacts["John"].mobile_phone_e164 == "+16175550199"
    assert contacts["Jane"].email == "jane.doe@example.com"
    assert contacts["Acme"].email == "office@acme.example"


def test_one_bad_row_writes_nothing_and_names_row_and_field(staff_client):
    preview = _dry_run(staff_client, "contact", HEADER + GOOD_ROWS + BAD_ROW)
    result = preview.context["result"]
    assert result.has_validation_errors()
    [invalid] = result.invalid_rows
    assert invalid.number == 4  # the fourth data row
    assert "email" in invalid.error_dict
    assert "confirm_form" not in preview.context  # no way to confirm a file with errors
    page = preview.content.decode()
    assert "email" in page and "Enter a valid email address." in page
    assert Contact.objects.count() == 0


def test_confirm_step_is_all_or_nothing_too(staff_client):
    """Even a hand-made confirm POST of a file with a bad row writes nothing (rollback on validation errors)."""
    preview = _dry_run(staff_client, "contact", HEADER + GOOD_ROWS)
    confirm_form = preview.context["confirm_form"]
    # Swap the stored preview file for one with a bad row, as a changed file would be.
    storage = TempFolderStorage(name=confirm_form.initial["import_file_name"], encoding="utf-8-sig")
    with open(storage.get_full_path(), "w", encoding="utf-8") as fh:
        fh.write(HEADER + GOOD_ROWS + BAD_ROW)
    _confirm(staff_client, "contact", preview)
    assert Contact.objects.count() == 0


def test_invalid_choice_is_reported(staff_client):
    preview = _dry_run(staff_client, "contact", HEADER + GOOD_ROWS.replace("referral", "billboard"))
    [invalid] = preview.context["result"].invalid_rows
    assert invalid.number == 2 and "source" in invalid.error_dict


def test_activity_import_normalizes_phone_and_needs_existing_contact(staff_client):
    contact = ContactFactory()
    content = (
        "contact,kind,direction,occurred_at,phone_number,summary,duration_seconds\n"
        f"{contact.pk},call,inbound,2025-03-01 10:15:00,617.555.0134,Asked about a basement crack,95\n"
    )
    preview = _dry_run(staff_client, "activity", content)
    assert not preview.context["result"].has_errors() and not preview.context["result"].has_validation_errors()
    _confirm(staff_client, "activity", preview)
    activity = Activity.objects.get()
    assert activity.contact == contact and activity.phone_number_e164 == "+16175550134"

    bad = content.replace(f"{contact.pk},call", "999999,call")
    result = _dry_run(staff_client, "activity", bad).context["result"]
    assert result.has_errors() or result.has_validation_errors()
    assert Activity.objects.count() == 1


def test_product_import_by_superuser_and_not_by_staff(superuser_client, staff_client):
    content = "name,item_type,unit_price,taxable,active,sku\nCrack injection (per crack),service,450.125,1,1,CI-1\n"
    assert staff_client.get(reverse("admin:crm_product_import")).status_code == 403
    preview = _dry_run(superuser_client, "product", content)
    _confirm(superuser_client, "product", preview)
    assert str(Product.objects.get().unit_price) == "450.12500"


def test_unknown_id_creates_a_contact_with_its_own_id(staff_client):
    """An id from another system must not be written as the primary key (PostgreSQL's sequence would not move,
    and a later "Add contact" would collide with it)."""
    preview = _dry_run(staff_client, "contact", "id," + HEADER + "987654," + GOOD_ROWS.splitlines()[0] + "\n")
    assert not preview.context["result"].has_errors()
    assert _confirm(staff_client, "contact", preview).status_code == 302
    contact = Contact.objects.get()
    assert contact.pk != 987654
    assert ContactFactory().pk != 987654


def test_known_id_updates_that_contact(staff_client):
    contact = ContactFactory(first_name="Jane", last_name="Doe", phone="617.555.0134")
    row = f"{contact.pk},Jane,Doe,,(617) 555-0134,,jane@example.com,Quincy,MA,02169,referral\n"
    preview = _dry_run(staff_client, "contact", "id," + HEADER + row)
    assert _confirm(staff_client, "contact", preview).status_code == 302
    contact.refresh_from_db()
    assert (Contact.objects.count(), contact.phone, contact.source) == (1, "(617) 555-0134", "referral")
