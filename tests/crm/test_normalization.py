"""Phone numbers to E.164 and e-mails lower-cased: the messy formats customers really type."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.normalization import email_normalize, phone_to_e164

from .factories import ContactFactory


@pytest.mark.parametrize(
    "raw",
    ["(617) 555-0134", "+1 617-555-0134", "617.555.0134", "6175550134", "1-617-555-0134", " 617 555 0134 "],
)
def test_messy_formats_of_one_number_agree(raw):
    assert phone_to_e164(raw) == "+16175550134"


@pytest.mark.parametrize("junk", ["", "   ", None, "n/a", "call the office", "555", "12", "+", "()-.", "1" * 25])
def test_junk_is_none(junk):
    assert phone_to_e164(junk) is None


def test_email_is_lowercased_and_stripped():
    assert email_normalize("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert email_normalize(None) == ""


@given(st.text(max_size=40))
def test_never_raises_and_is_idempotent(raw):
    result = phone_to_e164(raw)
    assert result is None or (result.startswith("+") and result[1:].isdigit())
    if result is not None:
        assert phone_to_e164(result) == result


us_numbers = st.tuples(
    st.integers(200, 999).filter(lambda n: n % 100 != 11),  # NANP area codes: [2-9]XX, not N11
    st.integers(200, 999),
    st.integers(0, 9999),
)
formats = st.sampled_from(["({a}) {b}-{c}", "+1 {a}-{b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "1 ({a}) {b} {c}"])


@given(us_numbers, formats, formats)
def test_format_invariant(number, fmt1, fmt2):
    a, b, c = number
    parts = {"a": f"{a}", "b": f"{b}", "c": f"{c:04d}"}
    first, second = phone_to_e164(fmt1.format(**parts)), phone_to_e164(fmt2.format(**parts))
    assert first == second == f"+1{a}{b}{c:04d}"


@pytest.mark.django_db
def test_contact_save_normalizes_phones_and_email():
    contact = ContactFactory(phone="(617) 555-0134", mobile_phone="+1 781.555.0199", email=" Bob@Example.COM ")
    contact.refresh_from_db()
    assert contact.phone == "(617) 555-0134"  # as typed
    assert contact.phone_e164 == "+16175550134"
    assert contact.mobile_phone_e164 == "+17815550199"
    assert contact.email == "bob@example.com"


@pytest.mark.django_db
def test_contact_with_junk_phone_saves_with_blank_e164():
    contact = ContactFactory(phone="ask for Dave")
    assert contact.phone_e164 == ""
