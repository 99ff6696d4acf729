"""Normalization of contact identifiers: phone numbers to E.164 and e-mail addresses.

One place so the admin, CSV imports, the demo loader and QuickBooks matching all agree on what "the same number"
means (DESIGN §4: phonenumbers, region US; e-mails lower-cased and stripped).
"""

import phonenumbers

DEFAULT_REGION = "US"


def phone_to_e164(raw: str | None) -> str | None:
    """Return `raw` as E.164 (`+16175550134`), or None when it is empty or not a possible number.

    Never raises: the phone system and CSV files send junk ("n/a", "call office") and that must not stop a save
    or an import row. `is_possible_number` (length check) rather than `is_valid_number`: the demo data and real
    customers use 555 numbers, which the validity metadata rejects.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_normalize(raw: str | None) -> str:
    """Lower-case and strip an e-mail address; None becomes "" (the column is blank, never NULL)."""
    if raw is None:
        return ""
    return str(raw).strip().lower()
