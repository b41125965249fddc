from __future__ import annotations

import re
from collections import deque

from django.utils import timezone

from .models import Evaluation

TAIL_LINES = 30


class DatabaseEvalReporter:
    """Stage and progress on the row (the page polls it), log lines to a tail on the row."""

    def __init__(self, evaluation: Evaluation):
        self.evaluation_id = evaluation.pk
        self.tail: deque[str] = deque(evaluation.log_tail.splitlines(), maxlen=TAIL_LINES)
        self.step = ""  # the current stage's name with its counts left out

    def stage(self, name: str, progress: float) -> None:
        now = timezone.now()
        fields = {
            "stage": name[:80],
            "progress": round(min(max(progress, 0.0), 1.0), 4),
            "heartbeat_at": now,
        }
        # "Answering 3/40 …" and "Answering 4/40 …" are one step: its clock starts once.
        step = re.sub(r"\d+", "#", name)
        if step != self.step:
            self.step = step
            fields["stage_started_at"] = now
        Evaluation.objects.filter(pk=self.evaluation_id).update(**fields)

    def log(self, message: str) -> None:
        self.tail.append(f"[{timezone.now():%H:%M:%S}] {message}")
        Evaluation.objects.filter(pk=self.evaluation_id).update(
            log_tail="\n".join(self.tail), heartbeat_at=timezone.now()
        )
