"""The overall quality score and its gate (docs/PRODUCT.md "Human-Readable Quality Score", "Quality Gates").

score = 100 × (0.4 × accuracy + 0.4 × judge + 0.2 × length appropriateness)

"Accuracy" depends on the task: label accuracy when the references look like class labels,
otherwise token-level F1 against the references (exact match would call every paraphrase
wrong). The judge is the LLM judge's average /5. Without a judge the remaining weights are
scaled to sum to 1 (accuracy 2/3, length 1/3), and the breakdown says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from .metrics import Scores

WEIGHTS = {"accuracy": 0.4, "judge": 0.4, "length": 0.2}
READY, REVIEW = 70, 50  # > READY: ready to deploy; REVIEW..READY: review examples; below: retrain

GATES = {
    "ready": "Ready to deploy",
    "review": "Review examples before deploying",
    "retrain": "Retraining recommended",
}


@dataclass
class Quality:
    score: float  # 0..100
    accuracy_name: str
    parts: dict  # component → (value 0..1, weight used)
    note: str

    @property
    def gate(self) -> str:
        if self.score > READY:
            return "ready"
        return "review" if self.score >= REVIEW else "retrain"


def quality(scores: Scores, judge_average: float | None = None) -> Quality:
    if scores.classification is not None:
        accuracy, name = scores.classification["accuracy"], "label accuracy"
    else:
        accuracy, name = scores.f1, "token F1"
    values = {"accuracy": accuracy, "length": scores.length_appropriateness}
    if judge_average is not None:
        values["judge"] = judge_average / 5
    total = sum(WEIGHTS[k] for k in values)
    parts = {k: (round(v, 4), round(WEIGHTS[k] / total, 4)) for k, v in values.items()}
    score = 100 * sum(v * w for v, w in parts.values())
    note = (
        f"Accuracy is {name} for this task."
        if judge_average is not None
        else f"Accuracy is {name} for this task. No LLM judge: accuracy and length re-weighted to 2/3 and 1/3."
    )
    return Quality(round(score, 1), name, parts, note)
