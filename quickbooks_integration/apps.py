from django.apps import AppConfig


class QuickbooksIntegrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quickbooks_integration"
    verbose_name = "QuickBooks"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        # Importing the services registers their sync kinds, failure retries and webhook handlers in every process.
        from .services import (  # noqa: F401
            customer_push,
            customer_update,
            customers,
            estimates,
            followups,
            invoices,
            products,
            products_push,
            sales_pull,
            sync,
            webhooks,
        )
