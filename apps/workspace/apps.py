from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The top of the order: what spans the other apps. The welcome page and the project
    dashboard (with its live socket), the team's usage page, and the demo's finished example that
    trains, evaluates and deploys itself (it follows the lower apps' signals)."""

    name = "apps.workspace"
    label = "workspace"

    def ready(self):
        from apps.evaluations.signals import evaluation_finished
        from apps.training.signals import run_finished

        from .demo import on_evaluation_finished, on_run_finished

        evaluation_finished.connect(on_evaluation_finished, dispatch_uid="showcase-deploy")
        run_finished.connect(on_run_finished, dispatch_uid="showcase-retry")
