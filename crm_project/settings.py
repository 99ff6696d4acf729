"""Settings, all read from the environment (12-factor) with django-environ; a `.env` file works too.

Development defaults make `make demo` work with nothing set; with DEBUG off every secret must come from the
environment and `manage.py check --deploy` is clean (see `.env.example` and the README's settings table).
"""

from email.utils import parseaddr
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "import_export",
    "django_q",
    "axes",
    "csp",
    "crm",
    "quickbooks_integration",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "crm_project.security.PermissionsPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the 429 lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out username+IP before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "crm_project.urls"
WSGI_APPLICATION = "crm_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm_project.context_processors.branding",
            ],
        },
    },
]

# SQLite by default; PostgreSQL through psycopg 3 with DATABASE_URL=postgres://...
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions: web, worker and emulator-driven tasks write without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Encryption at rest (django-fernet-fields-v2): newest key first; required outside development. ---
FERNET_KEYS = env.list("FERNET_KEYS", default=[])
if not FERNET_KEYS and DEBUG:
    # Development only: a fixed, documented key so `make demo` works. checks.py refuses it with DEBUG off.
    FERNET_KEYS = ["development-only-fernet-key-do-not-use-in-production"]

# --- QuickBooks Online ---
QUICKBOOKS_ENVIRONMENT = env.str("QUICKBOOKS_ENVIRONMENT", default="emulator" if DEBUG else "production")
QUICKBOOKS_EMULATOR_URL = env.str("QUICKBOOKS_EMULATOR_URL", default="http://127.0.0.1:8765")
QUICKBOOKS_CLIENT_ID = env.str("QUICKBOOKS_CLIENT_ID", default="emulator-client-id" if DEBUG else "")
QUICKBOOKS_CLIENT_SECRET = env.str("QUICKBOOKS_CLIENT_SECRET", default="emulator-client-secret" if DEBUG else "")
QUICKBOOKS_REDIRECT_URI = env.str("QUICKBOOKS_REDIRECT_URI", default="http://127.0.0.1:8000/quickbooks/callback/")
# After Connect, queue the customers and items imports (the initial sync does it); tests turn it off.
QUICKBOOKS_SYNC_AFTER_CONNECT = env.bool("QUICKBOOKS_SYNC_AFTER_CONNECT", default=True)
QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = env.str(
    "QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", default="emulator-verifier-token" if DEBUG else ""
)

# --- django-q2: ORM broker on the default database unless REDIS_URL is set. retry > timeout, bounded attempts. ---
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="crm"),  # the Redis list key: one name per deployment
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 250,
    "poll": 0.5,
    "ack_failures": True,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Security (the production profile: `manage.py check --deploy` is clean with DEBUG off) ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Behind a TLS-terminating proxy (nginx, a load balancer): trust its X-Forwarded-Proto, and list the public
# https origin(s) in CSRF_TRUSTED_ORIGINS. Probes reach /healthz/ and /readyz/ over plain HTTP on the inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
# Deliberately silenced checks, e.g. `quickbooks_integration.E003` for `make serve` against the local emulator.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Login throttling (django-axes, RELIABILITY E6): per username+IP, a cool-off, 429 with a clear page. ---
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_SENSITIVE_PARAMETERS = ["password", "code", "state", "access_token", "refresh_token"]
# Behind the proxy the client address is in X-Forwarded-For; AXES_PROXY_COUNT is how many proxies append to it.
if env.int("AXES_PROXY_COUNT", default=0):
    AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT")
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

# --- Content-Security-Policy (django-csp) and Permissions-Policy (crm_project/security.py). ---
# Scripts only from our own static files (the admin has no inline script since Django 4.2); the one inline handler
# in django-import-export's export page ("Select all") is allowed by its hash. Inline *styles* stay allowed:
# import-export's templates and ours use `style=` attributes, and a style cannot run code.
IMPORT_EXPORT_SELECT_ALL_HANDLER_HASH = "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-hashes'", IMPORT_EXPORT_SELECT_ALL_HANDLER_HASH],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        # The connect button posts to our view, which redirects to Intuit's consent page: browsers check a form's
        # redirects against form-action too, so Intuit's host (or the local emulator on any loopback port) is listed.
        "form-action": ["'self'", "https://appcenter.intuit.com"]
        + (["http://127.0.0.1:*", "http://localhost:*"] if QUICKBOOKS_ENVIRONMENT == "emulator" else []),
    }
}
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(self), "
    "geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=(), "
    "interest-cohort=()"
)

# --- Error reports: secrets redacted even under DEBUG (crm_project/errors.py); 500s mailed to ADMINS. ---
DEFAULT_EXCEPTION_REPORTER_FILTER = "crm_project.errors.RedactingExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "crm_project.errors.RedactingExceptionReporter"
# ADMINS="Ann <ann@example.com>,ops@example.com" → Django 5.2's (name, address) pairs.
ADMINS = [parseaddr(entry) for entry in env.list("ADMINS", default=[])]
MANAGERS = ADMINS
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=f"django.core.mail.backends.{'console' if DEBUG else 'smtp'}.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = "[Attack-a-Crack CRM] "
# The public address, for links in e-mails (e.g. https://crm.example.com); empty gives site-relative links.
SITE_URL = env.str("SITE_URL", default="")
# Alerts (quickbooks_integration/services/alerts.py): how many open sync failures count as "piling up".
ALERT_OPEN_FAILURES_THRESHOLD = env.int("ALERT_OPEN_FAILURES_THRESHOLD", default=10)
# /readyz/ thresholds: a worker or schedule silent this long is down; sync and webhook ages past these warn.
HEALTH_WORKER_STALE_SECONDS = env.int("HEALTH_WORKER_STALE_SECONDS", default=600)
HEALTH_SYNC_MAX_AGE_HOURS = env.int("HEALTH_SYNC_MAX_AGE_HOURS", default=26)
HEALTH_WEBHOOK_MAX_AGE_MINUTES = env.int("HEALTH_WEBHOOK_MAX_AGE_MINUTES", default=15)

# --- Logging: to stderr, with a filter that redacts anything token-like before it is written. ---
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "crm_project.log_filters.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        # runserver's request log prints each request line, query string included (the OAuth callback's code).
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "redact_secrets"],
            "level": "ERROR",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console", "mail_admins"], "level": "ERROR", "propagate": False},
        # urllib3/requests-oauthlib log full URLs and headers at DEBUG; keep them quiet.
        "urllib3": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
    },
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True  # =, +, -, @ cells exported as text (issue 14)
PHONENUMBER_DEFAULT_REGION = "US"
