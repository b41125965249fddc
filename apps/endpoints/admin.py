from django.contrib import admin

from .models import ApiKey, Deployment, Endpoint, RequestLog


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "status", "rate_limit_rpm", "created_at")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("endpoint", "run", "status", "weight", "created_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "project", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hash",)


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = (
        "route",
        "endpoint",
        "status_code",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "created_at",
    )
