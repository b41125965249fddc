"""Celery finds the project app's tasks here."""

from .showcase import prepare_showcase  # noqa: F401
