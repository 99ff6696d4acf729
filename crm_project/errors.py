"""Error reporting and error pages: secrets stay out of every report, and no error page strands a user.

Django switches its `SafeExceptionReporterFilter` off under DEBUG and never filters GET parameters, the request URL,
`QUERY_STRING` or the `repr` of objects in a frame (RELIABILITY finding 10, STACK §2 last row); `make demo` runs with
DEBUG on, so the technical 500 page showed the OAuth code, state, the client secret's Basic header and both tokens.
`RedactingExceptionReporterFilter` is always active and `RedactingExceptionReporter` scrubs what the filter is never
asked about. Both feed the technical 500 page and the e-mails `AdminEmailHandler` sends to ADMINS.

`server_error` replaces Django's context-less 500 view so the page can carry the user's name and a way back; if
that render fails (the database may be why we are here) it falls back to the same template without a request.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponseServerError
from django.template import loader
from django.utils.html import escape
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from django.views.decorators.csrf import requires_csrf_token

from .log_filters import REDACTED, redact

# Local variable, parameter and dict-key names whose values are secrets (tokens, OAuth code and state, keys,
# signatures, passwords, client secrets). Matched on whole `_`-separated words: `access_token`, `state`, `auth_code`.
SENSITIVE_NAME = re.compile(
    r"(?i)(?:^|_)(?:code|state|token|tokens|secret|secrets|password|passwd|signature|authorization|auth|"
    r"verifier|key|keys|credential|credentials|cookie|session)(?:$|_)"
)
_SETTINGS_HIDDEN = re.compile(r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|REDIS|Q_CLUSTER|DSN", re.I)


class _Shown:
    """A value already turned into its redacted `repr`; the report prints it as it is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _is_sensitive(name: object) -> bool:
    return isinstance(name, str) and bool(SENSITIVE_NAME.search(name))


def value_redact(value: Any) -> Any:
    """Strings and reprs through the log filter's patterns (`code=…`, `Bearer …`, `"access_token": …`)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(k) else value_redact(v) for k, v in value.items()}
    if isinstance(value, (int, float, bool, type(None))):
        return value
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001  (a broken __repr__ must not break the error report)
        return _Shown(f"<unprintable {type(value).__name__}>")
    return _Shown(redact(text))


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Always active (also under DEBUG); hides sensitive names and scrubs token-like text in every value."""

    cleansed_substitute = REDACTED
    hidden_settings = _SETTINGS_HIDDEN

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_safe_request_meta(self, request: HttpRequest) -> dict:
        meta = super().get_safe_request_meta(request)
        return {key: value_redact(value) if isinstance(value, str) else value for key, value in meta.items()}

    def get_post_parameters(self, request: HttpRequest | None):
        if request is None:
            return {}
        cleansed = super().get_post_parameters(request).copy()
        for key in list(cleansed):
            cleansed[key] = REDACTED if _is_sensitive(key) else redact(str(cleansed[key]))
        return cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame) -> list[tuple[str, Any]]:
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if value == self.cleansed_substitute or _is_sensitive(name):
                cleansed.append((name, REDACTED))
            else:
                cleansed.append((name, value_redact(value)))
        return cleansed


def _secrets_collect(name: object, value: Any, found: set[str], depth: int = 0) -> None:
    """Values held under sensitive names (recursing into dicts): these strings are hidden wherever else they appear."""
    if depth > 3:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _secrets_collect(key, item, found, depth + 1)
    elif isinstance(value, str) and _is_sensitive(name) and len(value) >= MIN_SECRET_LENGTH:
        found.add(value)


MIN_SECRET_LENGTH = 6  # shorter values ("", "true", a 3-digit code) would blank out ordinary text


class RedactingExceptionReporter(ExceptionReporter):
    """Scrubs the parts of the report Django takes straight from the request (GET, the URL, the exception text),
    then hides, anywhere in the rendered report, every value that a frame or the query held under a sensitive name:
    an exception message that quotes a bare state or client secret has no `name=` for a pattern to find."""

    def secret_values(self) -> set[str]:
        found: set[str] = set()
        if self.request is not None:
            for key, value in self.request.GET.items():
                _secrets_collect(key, value, found)
        tb = self.tb
        while tb is not None:
            for name, value in list(tb.tb_frame.f_locals.items()):
                _secrets_collect(name, value, found)
            tb = tb.tb_next
        return found

    def _scrub(self, text: str) -> str:
        for value in sorted(self.secret_values(), key=len, reverse=True):
            text = text.replace(value, REDACTED).replace(str(escape(value)), REDACTED)
        return redact(text)

    def get_traceback_html(self) -> str:
        return self._scrub(str(super().get_traceback_html()))

    def get_traceback_text(self) -> str:
        return self._scrub(str(super().get_traceback_text()))

    def get_traceback_data(self) -> dict:
        data = super().get_traceback_data()
        if self.request is not None:
            data["request_GET_items"] = [
                (key, REDACTED if _is_sensitive(key) else redact(value)) for key, value in self.request.GET.items()
            ]
            data["request_insecure_uri"] = redact(data.get("request_insecure_uri", ""))
        for key in ("exception_value", "exception_notes"):
            if key in data:
                data[key] = redact(data[key])
        return data


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponseServerError:
    """The 500 page in the admin's look, with the user's name when it can be had; never raises."""
    template = loader.get_template(template_name)
    try:
        return HttpResponseServerError(template.render({"request_ok": True}, request))
    except Exception:  # noqa: BLE001  (the database or a context processor may be what failed)
        return HttpResponseServerError(template.render({"site_header": "Attack-a-Crack CRM"}))
