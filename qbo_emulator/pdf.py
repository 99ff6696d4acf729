"""A minimal valid PDF (1.4) of a sales form: document type, number, customer, lines and total as text."""

from __future__ import annotations

from typing import Any

from .wire import decimal_text


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def sales_form_pdf(entity: str, obj: dict[str, Any], company_name: str) -> bytes:
    lines = [
        company_name,
        f"{entity} {obj.get('DocNumber', obj.get('Id'))}",
        f"Date: {obj.get('TxnDate', '')}",
        f"Customer: {(obj.get('CustomerRef') or {}).get('name', '')}",
    ]
    for line in obj.get("Line", []):
        if line.get("DetailType") == "SalesItemLineDetail":
            item = (line.get("SalesItemLineDetail") or {}).get("ItemRef", {}).get("name", "")
            lines.append(f"  {item} {line.get('Description', '')} {decimal_text(line.get('Amount', 0))}")
    tax = (obj.get("TxnTaxDetail") or {}).get("TotalTax")
    if tax:
        lines.append(f"Tax: {decimal_text(tax)}")
    lines.append(f"Total: {decimal_text(obj.get('TotalAmt', 0))}")
    if "Balance" in obj:
        lines.append(f"Balance Due: {decimal_text(obj['Balance'])}")
    commands = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
    for text in lines:
        commands.append(f"({_escape(text)}) Tj T*")
    commands.append("ET")
    stream = "\n".join(commands).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
