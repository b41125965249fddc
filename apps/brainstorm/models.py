from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.projects.models import Project


class Message(models.Model):
    """One turn of a project's conversation with the Brainstorm Agent."""

    class Role(models.TextChoices):
        USER = "user", "You"
        ASSISTANT = "assistant", "Brainstorm Agent"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agent_messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField()
    recommendation = models.JSONField(null=True, blank=True)
    # Who answered: "gemini:<model>" or "offline", and why the fallback was used if it was.
    source = models.CharField(max_length=100, blank=True)
    fallback_reason = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.role}: {self.text[:40]}"
