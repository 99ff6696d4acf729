"""Admin building blocks shared by the CRM's admin modules: deletion rules and import/export permissions."""

from django.contrib import admin
from import_export.admin import ImportExportModelAdmin


class NoBulkDeleteMixin:
    """Drop Django's `delete_selected` action for everyone but superusers: deleting a page of rows is too easy."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)
        return actions


class MoneyRecordAdminMixin(NoBulkDeleteMixin):
    """Money records (invoices, payments) are voided, never deleted, except by a superuser (RELIABILITY §E4)."""

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class CrmModelAdmin(NoBulkDeleteMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # one COUNT fewer per changelist page


class CrmImportExportAdmin(NoBulkDeleteMixin, ImportExportModelAdmin):
    """Import needs the model's add and change permissions, export its view permission.

    The import itself is all-or-nothing: `rollback_on_validation_errors` is forced on for the confirm step too, so
    a file changed between preview and confirm still cannot write half of itself.
    """

    list_per_page = 50
    show_full_result_count = False

    def has_import_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}") and request.user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["rollback_on_validation_errors"] = True
        return kwargs
