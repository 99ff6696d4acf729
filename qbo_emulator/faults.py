"""QBO fault bodies: the Fault envelope, the lower-case auth envelope, the XML throttle body, the Fault error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .clock import response_time

GENERIC_ERROR_MESSAGES: dict[str, tuple[str, str]] = {
    # code: (Message, default Detail)
    "500": ("Unsupported Operation", "Operation {detail} is not supported."),
    "610": (
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
    ),
    "2010": (
        "Request has invalid or unsupported property",
        "Property Name:{detail} specified is unsupported or invalid",
    ),
    "2020": (
        "Required param missing, need to supply the required value for the API",
        "Required parameter {detail} is missing in the request",
    ),
    "2030": ("Invalid ID", "Id should be a valid number. Supplied value:{detail}"),
    "2050": ("String length specified does not match the supported length", "{detail}"),
    "2170": ("Invalid Enumeration", "Invalid Enumeration : {detail}"),
    "2210": ("Email Address does not conform to the syntax rules of RFC 822", "{detail}"),
    "2500": ("Invalid Reference Id", "Invalid Reference Id : {detail}"),
    "4001": ("Invalid query", "{detail}"),
    "5010": (
        "Stale Object Error",
        "Stale Object Error : You and QuickBooks Emulator were working on this at the same time. "
        "QuickBooks Emulator finished before you did, so your work was not saved.",
    ),
    "6000": (
        "A business validation error has occurred while processing your request",
        "Business Validation Error: {detail}",
    ),
    # 6270: Detail as quoted by public integrations that handle it; the Message is UNCONFIRMED (docs/emulator.md).
    "6270": (
        "A business validation error has occurred while processing your request",
        "{detail}",
    ),
    "6070": ("Amount is not equal to UnitPrice * Qty", "Amount is not equal to UnitPrice * Qty. {detail}"),
    "6140": (
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already been used."
        " DocNumber={detail} is assigned to TxnType={detail2} with TxnId={detail3}",
    ),
    "6240": ("Duplicate Name Exists Error", "The name supplied already exists. : {detail}"),
    "10000": ("An application error has occurred while processing your request", "System Failure Error: {detail}"),
}


#: Faults QBO sends with no ``element`` key at all when nothing names one: recorded 500, 2010 and 6240 (minimul/qbo_api
#: error/*.yml; samples fault_unsupported_operation_400, fault_unrecognized_property_400, fault_duplicate_name_400)
#: and every query fault. Others (610 in a batch item, 6000) were recorded with ``"element": ""``.
NO_ELEMENT_CODES = frozenset({"500", "2010", "4000", "4001", "6240"})


@dataclass
class Fault(Exception):
    """A QBO fault: HTTP status + one or more errors in the capital-F `Fault` envelope."""

    status: int
    code: str
    message: str
    detail: str
    element: str | None = ""  # None: the error has no ``element`` key at all (QBO's query faults)
    fault_type: str = "ValidationFault"
    extra_errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code} {self.message}: {self.detail}"

    def error_dicts(self) -> list[dict[str, str]]:
        first = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            first["element"] = self.element
        return [first, *self.extra_errors]

    def fault_dict(self) -> dict[str, Any]:
        return {"Error": self.error_dicts(), "type": self.fault_type}


def fault(
    code: str | int,
    detail: str = "",
    *,
    status: int = 400,
    element: str | None = "",
    fault_type: str = "ValidationFault",
    message: str | None = None,
    detail2: str = "",
    detail3: str = "",
    raw_detail: bool = False,
) -> Fault:
    """Build a Fault with the usual QBO Message/Detail text for `code`."""
    code = str(code)
    if element == "" and code in NO_ELEMENT_CODES:
        element = None
    default_message, template = GENERIC_ERROR_MESSAGES.get(
        code, ("A business validation error has occurred while processing your request", "{detail}")
    )
    text = detail if raw_detail else template.format(detail=detail, detail2=detail2, detail3=detail3)
    return Fault(
        status=status,
        code=code,
        message=message or default_message,
        detail=text,
        element=element,
        fault_type=fault_type,
    )


def fault_body(err: Fault, when: dt.datetime) -> dict[str, Any]:
    return {"Fault": err.fault_dict(), "time": response_time(when)}


def auth_failure_body(detail: str, when: dt.datetime) -> dict[str, Any]:
    """The 401 body QBO sends for 3200 (lower-case envelope), as in samples/fault_auth_token_expired_401.json."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(when.timestamp() * 1000),
        "status": None,
        "cdcresponse": [],
    }


WWW_AUTHENTICATE = 'Bearer realm="Intuit", error="invalid_token"'


def authorization_failure_body() -> dict[str, Any]:
    """The 403 body for 3100 (realm not authorized for the token)."""
    return {
        "fault": {
            "error": [
                {
                    "message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    "detail": None,
                    "code": "3100",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        }
    }


def throttle_xml(when: dt.datetime) -> str:
    """The XML 429 body (samples/fault_throttle_429.xml), sent even to JSON clients."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse time="{response_time(when)}" xmlns="http://schema.intuit.com/finance/v3">\n'
        '  <Fault type="SERVICE">\n'
        '    <Error code="3001">\n'
        "      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>\n"
        "      <Detail>The request limit was reached.  Try again later</Detail>\n"
        "    </Error>\n"
        "  </Fault>\n"
        "</IntuitResponse>\n"
    )


def system_fault(detail: str = "An application error has occurred.") -> Fault:
    return fault("10000", detail, status=500, fault_type="SystemFault")


def proxy_error_html(status: int) -> str:
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
    title = f"{status} {reason}"
    return f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>\n"
