from django.apps import AppConfig


class BrainstormConfig(AppConfig):
    name = "apps.brainstorm"
    label = "brainstorm"
