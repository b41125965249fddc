from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self):
        from apps.evaluations.signals import evaluation_finished
        from apps.training.signals import run_finished

        from .showcase import on_evaluation_finished, on_run_finished

        evaluation_finished.connect(on_evaluation_finished, dispatch_uid="showcase-deploy")
        run_finished.connect(on_run_finished, dispatch_uid="showcase-retry")
