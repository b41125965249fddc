"""Automatic metrics of an evaluation (docs/PRODUCT.md "Evaluation Metrics"), as plain functions.

Texts are compared after `normalise` (lower case, punctuation and English articles removed,
whitespace collapsed), as SQuAD's scorer does, so "The refund." matches "refund". Scores in
0..1 unless said otherwise; BLEU is sacrebleu's 0..100 and ROUGE-L is rouge-score's F-measure.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

_PUNCTUATION = str.maketrans("", "", string.punctuation + "“”‘’…–—")
_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Length ratio (prediction words / reference words): the ideal band and alerts of docs/PRODUCT.md "Evaluation Metrics".
IDEAL_LOW, IDEAL_HIGH = 0.9, 1.1
TOO_SHORT, TOO_VERBOSE = 0.7, 1.3
# Appropriateness falls linearly from 1 at the edge of the ideal band to 0 this far beyond it.
LENGTH_FALLOFF = 0.5


def normalise(text: str) -> str:
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return normalise(text).split()


def exact_match(predictions: list[str], references: list[str]) -> float:
    pairs = list(zip(predictions, references, strict=True))
    return sum(normalise(p) == normalise(r) for p, r in pairs) / len(pairs) if pairs else 0.0


def token_prf(prediction: str, reference: str) -> tuple[float, float, float]:
    """Precision (share of predicted words in the reference), recall, F1; words counted with repeats."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        same = predicted == expected
        return (float(same),) * 3
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return precision, recall, 2 * precision * recall / (precision + recall)


def bleu(predictions: list[str], references: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(predictions, [references]).score)


def rouge_l(predictions: list[str], references: list[str]) -> float:
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    scores = [
        scorer.score(reference, prediction)["rougeL"].fmeasure
        for prediction, reference in zip(predictions, references, strict=True)
    ]
    return sum(scores) / len(scores) if scores else 0.0


def length_ratio(prediction: str, reference: str) -> float:
    expected = len(words(reference))
    return len(words(prediction)) / expected if expected else 0.0


def length_appropriateness(ratio: float) -> float:
    """1 inside 0.9-1.1, falling linearly to 0 at 0.4 and at 1.6."""
    beyond = max(IDEAL_LOW - ratio, ratio - IDEAL_HIGH, 0.0)
    return max(0.0, 1.0 - beyond / LENGTH_FALLOFF)


def length_alert(ratio: float) -> str:
    if ratio > TOO_VERBOSE:
        return f"Answers are {ratio:.1f}x as long as the references: too verbose."
    if ratio < TOO_SHORT:
        return f"Answers are {ratio:.1f}x the references' length: too short."
    return ""


def repetition_rate(text: str) -> float:
    """Share of word trigrams that repeat an earlier trigram of the same answer."""
    tokens = words(text)
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    return 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0


def looks_like_classification(references: list[str]) -> bool:
    """Short answers drawn from a small set of labels, each used more than once on average."""
    labels = {normalise(r) for r in references}
    return (
        len(references) >= 4
        and len(labels) <= 20
        and len(labels) * 2 <= len(references)
        and all(len(label.split()) <= 4 for label in labels)
    )


def classification(predictions: list[str], references: list[str]) -> dict:
    """Accuracy and macro precision/recall/F1 over the references' labels."""
    pairs = [(normalise(p), normalise(r)) for p, r in zip(predictions, references, strict=True)]
    labels = sorted({r for _, r in pairs})
    per_label = []
    for label in labels:
        tp = sum(p == label and r == label for p, r in pairs)
        fp = sum(p == label and r != label for p, r in pairs)
        fn = sum(p != label and r == label for p, r in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append((precision, recall, f1))
    n = len(per_label) or 1
    return {
        "accuracy": sum(p == r for p, r in pairs) / len(pairs) if pairs else 0.0,
        "precision": sum(x[0] for x in per_label) / n,
        "recall": sum(x[1] for x in per_label) / n,
        "f1": sum(x[2] for x in per_label) / n,
        "labels": labels,
    }


@dataclass
class Scores:
    """One model's metrics over a test set."""

    exact_match: float
    precision: float
    recall: float
    f1: float
    bleu: float
    rouge_l: float
    length_ratio: float
    length_appropriateness: float
    repetition_rate: float
    empty_outputs: int
    classification: dict | None = None
    perplexity: float | None = None


def score_outputs(predictions: list[str], references: list[str]) -> Scores:
    prf = [token_prf(p, r) for p, r in zip(predictions, references, strict=True)]
    n = len(prf)
    ratios = [length_ratio(p, r) for p, r in zip(predictions, references, strict=True)]
    total_ref = sum(len(words(r)) for r in references)
    return Scores(
        exact_match=exact_match(predictions, references),
        precision=sum(x[0] for x in prf) / n,
        recall=sum(x[1] for x in prf) / n,
        f1=sum(x[2] for x in prf) / n,
        bleu=bleu(predictions, references),
        rouge_l=rouge_l(predictions, references),
        length_ratio=sum(len(words(p)) for p in predictions) / total_ref if total_ref else 0.0,
        length_appropriateness=sum(length_appropriateness(r) for r in ratios) / n,
        repetition_rate=sum(repetition_rate(p) for p in predictions) / n,
        empty_outputs=sum(not p.strip() for p in predictions),
        classification=classification(predictions, references)
        if looks_like_classification(references)
        else None,
    )
