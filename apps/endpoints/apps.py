from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.endpoints"
    verbose_name = "Endpoints"

    def ready(self):
        from apps.billing.signals import limits_changed
        from apps.training.signals import run_changed

        from .project_status import on_run_changed
        from .version import on_limits_changed

        run_changed.connect(on_run_changed, dispatch_uid="project-status")
        limits_changed.connect(on_limits_changed, dispatch_uid="gateway-directory")
