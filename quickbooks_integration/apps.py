from django.apps import AppConfig


class QuickbooksIntegrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quickbooks_integration"
    verbose_name = "QuickBooks"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .services import sync  # noqa: F401  (registers the sync kinds with services/runs.py)
