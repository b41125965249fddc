"""The figures on a project's dashboard, each with where it came from.

Training runs, usage and deployments arrive with later parts of the product;
until a project has any, each figure says so instead of showing a made-up zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Project


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    source: str


def project_figures(project: Project) -> list[Figure]:
    return [
        Figure(
            "Created", project.created_at.strftime("%b %-d, %Y"), "when the project was created"
        ),
        Figure("Total training time", "—", "no training runs yet"),
        Figure("Total spend", "$0.00", "no usage recorded for this project"),
        Figure("Current model", "None yet", "train and deploy a version to set it"),
    ]
