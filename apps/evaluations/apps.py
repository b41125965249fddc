from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "apps.evaluations"
    label = "evaluations"

    def ready(self):
        from apps.training.signals import run_changed

        from .services import on_run_changed

        run_changed.connect(on_run_changed, dispatch_uid="evaluate-when-trained")
