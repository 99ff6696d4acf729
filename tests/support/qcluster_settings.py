"""Settings for a real `qcluster` started by a test: the test settings, but tasks go through the ORM broker with a
short django-q timeout, so a test can watch a worker being killed mid-task and the task being delivered again."""

import os

from crm_project.settings_test import *  # noqa: F403

Q_CLUSTER = {  # noqa: F405
    **Q_CLUSTER,  # noqa: F405
    "sync": False,
    "workers": 1,
    "timeout": int(os.environ.get("Q_TEST_TIMEOUT", "3")),
    "retry": int(os.environ.get("Q_TEST_RETRY", "6")),
    "poll": 0.2,
}
QUICKBOOKS_RUN_LEASE_SECONDS = float(os.environ.get("QUICKBOOKS_RUN_LEASE_SECONDS", "2"))
