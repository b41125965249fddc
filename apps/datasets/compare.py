"""Side-by-side figures of two versions of a dataset, from their reports."""

from __future__ import annotations

from .quality import ISSUE_LABELS


def compare_reports(before: dict, after: dict) -> list[dict]:
    """Rows of (label, before, after, change) for counts that differ or matter."""
    rows = []

    def add(label, a, b):
        rows.append(
            {
                "label": label,
                "before": a,
                "after": b,
                "change": (b - a)
                if isinstance(a, (int, float)) and isinstance(b, (int, float))
                else None,
            }
        )

    add("Examples", before.get("total", 0), after.get("total", 0))
    add("Usable for training", before.get("usable", 0), after.get("usable", 0))
    add("Train split", before.get("train", 0), after.get("train", 0))
    add("Test split", before.get("test", 0), after.get("test", 0))
    add("Average quality score", before.get("mean_score", 0), after.get("mean_score", 0))
    b_counts, a_counts = before.get("issue_counts", {}), after.get("issue_counts", {})
    for code, label in ISSUE_LABELS.items():
        if b_counts.get(code) or a_counts.get(code):
            add(f"Rows: {label}", b_counts.get(code, 0), a_counts.get(code, 0))
    return rows
