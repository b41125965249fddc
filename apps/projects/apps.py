from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self):
        from apps.evaluations.signals import evaluation_finished

        from .showcase import on_evaluation_finished

        evaluation_finished.connect(on_evaluation_finished, dispatch_uid="showcase-deploy")
