"""How people type a US phone number: the formats the CRM receives from forms, staff and the phone system.

The stored ``phone`` keeps what was typed; normalizing to E.164 is the model layer's job (``crm``'s helper),
so these functions only render a canonical ``+1NXXNXXXXXX`` number the ways real people write it.
"""

STYLES = ("paren", "intl", "dots", "dashes", "digits", "e164")


def phone_typed(e164: str, style: str) -> str:
    """Render ``+16175550134`` as typed: paren "(617) 555-0134", intl "+1 617-555-0134", dots "617.555.0134"..."""
    if not e164:
        return ""
    digits = e164.removeprefix("+1")
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    formats = {
        "paren": f"({area}) {exchange}-{line}",
        "intl": f"+1 {area}-{exchange}-{line}",
        "dots": f"{area}.{exchange}.{line}",
        "dashes": f"{area}-{exchange}-{line}",
        "digits": digits,
        "e164": e164,
    }
    return formats[style]
