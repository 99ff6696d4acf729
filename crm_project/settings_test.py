"""Test settings: the real settings with DEBUG-style defaults, fast hashing and plain static storage."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("FERNET_KEYS", "test-fernet-key-newest,test-fernet-key-older")

from crm_project.settings import *  # noqa: E402,F403

DEBUG = False  # tests run like production, minus HTTPS
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# django-q2 reads Q_CLUSTER once at import: run tasks inline in tests (STACK §2).
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# The suite runs with DEBUG off against the local emulator, which checks.py rightly refuses in production.
SILENCED_SYSTEM_CHECKS = ["quickbooks_integration.E003"]
# Login throttling off for the suite; tests/ops/test_login_throttling.py turns it on for itself.
AXES_ENABLED = False
# Connecting runs only the initial sync here; tests run the customers and items imports they need themselves.
QUICKBOOKS_SYNC_AFTER_CONNECT = False
