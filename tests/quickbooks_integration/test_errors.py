"""The closed classification table in errors.py, on Intuit's saved fault bodies (HTTP status first, then code)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quickbooks_integration.qbo import errors

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "qbo"


@pytest.mark.parametrize(
    ("sample", "status", "expected", "code"),
    [
        ("fault_auth_token_expired_401.json", 401, errors.TokenExpiredError, "3200"),
        ("fault_authorization_3100_403.json", 403, errors.RealmNotAuthorizedError, "3100"),
        ("fault_duplicate_name_400.json", 400, errors.DuplicateNameError, "6240"),
        ("fault_invalid_id_400.json", 400, errors.QuickBooksValidationError, "2030"),
        ("fault_invalid_query_400.json", 400, errors.QuickBooksValidationError, "4001"),
        ("fault_stale_object_batch_item.json", 400, errors.StaleObjectError, "5010"),
        ("fault_throttle_429.xml", 429, errors.ThrottledError, "3001"),
        ("fault_throttle_legacy_403.xml", 403, errors.ThrottledError, "3001"),
        ("fault_unrecognized_property_400.json", 400, errors.QuickBooksValidationError, "2010"),
        ("fault_unsupported_operation_400.json", 400, errors.QuickBooksValidationError, "500"),
    ],
)
def test_saved_faults_classify(sample, status, expected, code):
    body = (SAMPLES / sample).read_text()
    error = errors.error_from_response(status=status, body=body, headers={"intuit_tid": "tid-1"})
    assert type(error) is expected
    assert error.code == code
    assert error.http_status == status and error.intuit_tid == "tid-1"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "610", errors.NotFoundError),
        (200, "610", errors.NotFoundError),
        (500, "10000", errors.TransientError),
        (502, "", errors.TransientError),
        (503, "", errors.TransientError),
        (504, "", errors.TransientError),
        (400, "6000", errors.QuickBooksValidationError),
        (400, "6140", errors.QuickBooksValidationError),
        (400, "2020", errors.QuickBooksValidationError),
        (401, "", errors.TokenExpiredError),
        (401, "100", errors.TokenExpiredError),
        (200, "3200", errors.TokenExpiredError),
        (200, "120", errors.AuthenticationError),
        (429, "", errors.ThrottledError),
        (404, "", errors.QuickBooksValidationError),
    ],
)
def test_status_then_code(status, code, expected):
    assert errors.classify(status=status, code=code) is expected


def test_throttle_detected_by_status_even_with_html_body():
    error = errors.error_from_response(status=429, body="<html>busy</html>", headers={"Retry-After": "7"})
    assert isinstance(error, errors.ThrottledError) and error.retryable
    assert error.retry_after == 7.0


def test_only_throttle_and_transient_are_retryable():
    retryable = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.QuickBooksError) and cls.retryable
    }
    assert retryable == {errors.ThrottledError, errors.TransientError, errors.TokenResponseError}
    assert issubclass(errors.TokenResponseError, errors.TransientError)
