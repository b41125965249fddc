from __future__ import annotations

from collections import deque

from django.utils import timezone

from .models import Evaluation

TAIL_LINES = 30


class DatabaseEvalReporter:
    """Stage and progress on the row (the page polls it), log lines to a tail on the row."""

    def __init__(self, evaluation: Evaluation):
        self.evaluation_id = evaluation.pk
        self.tail: deque[str] = deque(evaluation.log_tail.splitlines(), maxlen=TAIL_LINES)

    def stage(self, name: str, progress: float) -> None:
        Evaluation.objects.filter(pk=self.evaluation_id).update(
            stage=name[:80],
            progress=round(min(max(progress, 0.0), 1.0), 4),
            heartbeat_at=timezone.now(),
        )

    def log(self, message: str) -> None:
        self.tail.append(f"[{timezone.now():%H:%M:%S}] {message}")
        Evaluation.objects.filter(pk=self.evaluation_id).update(
            log_tail="\n".join(self.tail), heartbeat_at=timezone.now()
        )
