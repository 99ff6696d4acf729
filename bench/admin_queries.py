"""Queries per admin page: every CRM changelist, rendered for each demo role on the demo data.

Prints a table (page, rows shown, SQL queries, milliseconds). It asserts nothing: the tests in
tests/crm/test_changelist_queries.py hold the rule (query count does not grow with rows); this shows the figures.
Runs on a throwaway SQLite file unless DATABASE_URL is set.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_project.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

ROLES = (("admin", "admin-demo"), ("bookkeeper", "bookkeeper-demo"), ("staff", "staff-demo"), ("owner", "owner-demo"))


def main() -> None:
    setup_test_environment()  # records template contexts, so the rows shown can be counted
    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    models = [model for model in apps.get_app_config("crm").get_models() if model in admin.site._registry]
    print(f"{'role':<11} {'page':<28} {'rows':>5} {'queries':>8} {'ms':>7}")
    for username, password in ROLES:
        client = Client()
        assert client.login(username=username, password=password)
        for model in models:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                print(f"{username:<11} {model._meta.model_name:<28} {'-':>5} {'HTTP ' + str(response.status_code):>8}")
                continue
            rows = len(response.context["cl"].result_list)
            print(f"{username:<11} {model._meta.model_name:<28} {rows:>5} {len(queries):>8} {elapsed:>7.1f}")


if __name__ == "__main__":
    main()
