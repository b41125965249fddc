"""What the evaluation pages say, computed from the stored result: the table, the verdict, the notes."""

from __future__ import annotations

from dataclasses import dataclass

from workers.evaluation.quality import GATES

# (key in the scores, label, higher is better, shown as percent)
METRICS = [
    ("f1", "Token F1", True, True),
    ("exact_match", "Exact match", True, True),
    ("rouge_l", "ROUGE-L", True, True),
    ("bleu", "BLEU (0-100)", True, False),
    ("length_ratio", "Length vs reference", None, False),
    ("repetition_rate", "Repetition", False, True),
    ("perplexity", "Perplexity of the references", False, False),
]


@dataclass
class Row:
    label: str
    base: float | None
    tuned: float | None
    percent: bool
    better: bool | None  # None: no direction (length) or no tuned value

    @property
    def arrow(self) -> str:
        if self.better is None:
            return ""
        return "▲" if self.better else "▼"


def rows(result: dict) -> list[Row]:
    base, tuned = result.get("base") or {}, result.get("tuned") or {}
    out = []
    for key, label, higher, percent in METRICS:
        b, t = base.get(key), tuned.get(key) if tuned else None
        better = None
        if higher is not None and b is not None and t is not None and b != t:
            better = (t > b) if higher else (t < b)
        out.append(Row(label, b, t, percent, better))
    return out


def verdict(result: dict) -> dict:
    base_q, tuned_q = result.get("base_quality") or {}, result.get("tuned_quality")
    main = tuned_q or base_q
    improvement = round(tuned_q["score"] - base_q["score"], 1) if tuned_q else None
    return {
        "score": main.get("score"),
        "base_score": base_q.get("score"),
        "improvement": improvement,
        "gate": main.get("gate"),
        "gate_label": GATES.get(main.get("gate"), ""),
        "note": main.get("note", ""),
        "parts": main.get("parts", {}),
    }


def observations(result: dict) -> tuple[list[str], list[str]]:
    """Strengths and weaknesses read off the numbers, in words."""
    base, tuned = result.get("base") or {}, result.get("tuned")
    strengths, weaknesses = [], []
    main = tuned or base
    if tuned:
        change = tuned["f1"] - base["f1"]
        if change > 0.02:
            strengths.append(
                f"Answers overlap the references more: token F1 {base['f1']:.0%} → {tuned['f1']:.0%}."
            )
        elif change < -0.02:
            weaknesses.append(
                f"Answers overlap the references less than the base model's: F1 {base['f1']:.0%} → {tuned['f1']:.0%}."
            )
        else:
            weaknesses.append(
                "Token F1 barely moved: the model learned little that the test split measures."
            )
        bp, tp = base.get("perplexity"), tuned.get("perplexity")
        if bp and tp and tp < bp:
            strengths.append(
                f"The tuned model finds the reference answers far more likely (perplexity {bp:.1f} → {tp:.1f})."
            )
    ratio = main["length_ratio"]
    if ratio > 1.3:
        weaknesses.append(f"Too verbose: answers are {ratio:.1f}x the references' length.")
    elif ratio < 0.7:
        weaknesses.append(f"Too short: answers are {ratio:.1f}x the references' length.")
    else:
        strengths.append(f"Answer length fits the references ({ratio:.2f}x).")
    if main["repetition_rate"] > 0.1:
        weaknesses.append(f"Repeats itself: {main['repetition_rate']:.0%} of word trigrams repeat.")
    if main["empty_outputs"]:
        weaknesses.append(f"No answer at all for {main['empty_outputs']} examples.")
    return strengths, weaknesses


JUDGE_LABELS = {
    "relevance": "Relevance",
    "coherence": "Coherence",
    "factuality": "Factuality",
    "completeness": "Completeness",
    "tone_match": "Tone match",
    "average": "Average",
}


def stars(value: float) -> str:
    whole = round(value)
    return "★" * whole + "☆" * (5 - whole)


def judge_rows(result: dict) -> list[dict]:
    judge = result.get("judge") or {}
    if not judge.get("judged"):
        return []
    return [
        {
            "label": label,
            "base": judge["base"][key],
            "tuned": judge["tuned"][key],
            "base_stars": stars(judge["base"][key]),
            "tuned_stars": stars(judge["tuned"][key]),
        }
        for key, label in JUDGE_LABELS.items()
    ]


@dataclass
class Problem:
    cause: str
    evidence: str
    action: str
    url: str


SMALL_DATASET = 100  # training examples below which "too few examples" is a likely cause
OVERFIT_RISE = 1.10  # final eval loss this much above its best: the curve overfitted
SMALL_MODEL_B = 1.0  # parameters (billions) below which a larger model is suggested


def problems(evaluation) -> list[Problem]:
    """docs/PRODUCT.md 5.5, when the score is below "ready": likely causes read from this run's own data,
    curve and model, each with the action that addresses it."""
    from django.urls import reverse

    outcome = verdict(evaluation.result) if evaluation.result else {}
    if not outcome or outcome.get("gate") == "ready":
        return []
    run, version = evaluation.run, evaluation.dataset_version
    found: list[Problem] = []
    report = version.report or {}
    flagged = sum((report.get("issue_counts") or {}).values())
    if flagged and report.get("total"):
        found.append(
            Problem(
                "Data quality issues",
                f"{flagged:,} issues were flagged in {report['total']:,} rows of {version} "
                f"(mean quality score {report.get('mean_score', '?')}/100).",
                "Review the data",
                reverse("version_detail", args=[version.pk]),
            )
        )
    if version.train_count < SMALL_DATASET:
        found.append(
            Problem(
                "Too few examples",
                f"{version.train_count} training examples; fine-tuning usually needs {SMALL_DATASET}+.",
                "Find more data",
                reverse("dataset_discover", args=[evaluation.project_id]),
            )
        )
    if run is not None:
        evals = [p.data["eval_loss"] for p in run.points.order_by("step") if "eval_loss" in p.data]
        if len(evals) >= 2 and evals[-1] > min(evals) * OVERFIT_RISE:
            found.append(
                Problem(
                    "Overfitting",
                    f"Eval loss fell to {min(evals):.3f} and ended at {evals[-1]:.3f}: the model "
                    "memorised the training data.",
                    "Try fewer epochs or a lower learning rate",
                    reverse("run_config", args=[run.pk]),
                )
            )
    if evaluation.base_model.params_billions < SMALL_MODEL_B:
        found.append(
            Problem(
                "Model too small",
                f"{evaluation.base_model.name} has {evaluation.base_model.params_billions:g}B "
                "parameters; larger models learn harder tasks.",
                "Compare larger models",
                reverse("catalog"),
            )
        )
    return found


WRONG_BELOW_F1 = (
    0.5  # an answer sharing less than half its words with the reference counts as wrong
)


def error_analysis(examples: list[dict]) -> dict | None:
    """The error analysis of docs/PRODUCT.md 5.3: which examples each model gets wrong (token F1 below 0.5)."""
    if not examples or "tuned_f1" not in examples[0]:
        return None
    base_wrong = {e["index"] for e in examples if e["base_f1"] < WRONG_BELOW_F1}
    tuned_wrong = {e["index"] for e in examples if e["tuned_f1"] < WRONG_BELOW_F1}
    return {
        "threshold": WRONG_BELOW_F1,
        "total": len(examples),
        "base_wrong": len(base_wrong),
        "tuned_wrong": len(tuned_wrong),
        "fixed": len(base_wrong - tuned_wrong),
        "broken": len(tuned_wrong - base_wrong),
        "still_wrong": len(base_wrong & tuned_wrong),
    }


def compare_rows(a: dict, b: dict) -> list[Row]:
    """Two fine-tuned versions' metrics, with arrows for B against A."""
    pseudo = {"base": a.get("tuned") or a["base"], "tuned": b.get("tuned") or b["base"]}
    return rows(pseudo)
