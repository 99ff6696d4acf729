"""Product admin: services and materials (QBO Items), with CSV import; deactivate rather than delete."""

from django.contrib import admin

from crm.models import Product
from crm.resources import ProductResource

from .base import CrmImportExportAdmin


@admin.register(Product)
class ProductAdmin(CrmImportExportAdmin):
    resource_classes = [ProductResource]
    list_display = ("name", "item_type", "unit_price", "taxable", "active", "sku", "quickbooks_item_id")
    list_filter = ("item_type", "active", "taxable")
    search_fields = ("name", "sku", "description")
    readonly_fields = ("quickbooks_item_id", "quickbooks_sync_token", "last_synced_at", "created_at", "updated_at")
