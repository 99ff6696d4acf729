"""A logging filter that redacts OAuth tokens, authorization codes and signatures from every record.

The libraries we use (requests-oauthlib, urllib3) can log URLs and headers; our own code never logs tokens,
but this filter is the belt to that braces (RELIABILITY F3).
"""

import logging
import re

_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic)\s+)[^\s'\",}]+"),
    re.compile(r"(?i)((?:access|refresh|id)_token['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,}]+"),
    re.compile(r"(?i)((?:[?&]|\b)code=)[^\s&'\"]+"),
    re.compile(r"(?i)((?:[?&]|\b)state=)[^\s&'\"]+"),  # the OAuth state is a one-time CSRF secret
    re.compile(r"(?i)(['\"]token['\"]\s*:\s*['\"])[^'\"]+"),  # the revoke body {"token": "..."}
    re.compile(r"(?i)(intuit-signature['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)(client_secret['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,}]+"),
]
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Redacts the message and any traceback (formatted once here; formatters reuse `exc_text`)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
