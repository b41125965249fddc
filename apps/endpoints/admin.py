from django.contrib import admin

from .models import ApiKey, Deployment, Endpoint, InferenceServer, Replica, RequestLog


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


@admin.register(InferenceServer)
class InferenceServerAdmin(admin.ModelAdmin):
    """Servers are shared by every team: add one here, or let it announce itself."""

    list_display = ("name", "kind", "url", "base_model", "capacity", "slots", "state", "down_since")
    list_filter = ("kind", "state")
    readonly_fields = ("failures", "down_since", "last_checked_at", "error", "created_at")


@admin.register(Replica)
class ReplicaAdmin(admin.ModelAdmin):
    list_display = ("deployment", "server", "served_model", "state", "ready_at")
    list_filter = ("state",)
