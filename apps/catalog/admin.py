from django.contrib import admin

from .models import BaseModel, Hardware


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "family",
        "params_billions",
        "kind",
        "speed",
        "cost",
        "license",
        "source",
    ]
    list_filter = ["kind", "family", "bundled", "gated"]
    search_fields = ["name", "slug", "source"]


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "vram_gb",
        "hourly_price",
        "provider",
        "runpod_gpu_id",
        "price_refreshed_at",
        "price_source",
    ]
    list_editable = ["hourly_price"]
