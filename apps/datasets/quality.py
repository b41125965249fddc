"""Per-row quality scores and the dataset's quality report (docs/PRODUCT.md).

Plain functions and a small accumulator: the analysis task feeds rows in one
pass, and nothing here touches the database or the file system.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from . import language, rules
from . import thresholds as T
from .rules import ISSUE_LABELS

_MOJIBAKE = re.compile("[ÃÂâ][\u0080-\u00ff\u2018-\u201e\u20ac\u2122]")


def approx_tokens(text: str) -> int:
    """Tokens estimated from characters; used until a base model's tokenizer is chosen."""
    return max(1, round(len(text) / T.CHARS_PER_TOKEN)) if text else 0


def repair_text(text: str) -> tuple[str, bool]:
    """Fix mojibake (UTF-8 read as Windows-1252) where ftfy is sure; returns (text, changed)."""
    if text.isascii() or not _MOJIBAKE.search(text):  # isascii: a flag read, no scan
        return text, False
    import ftfy

    fixed = ftfy.fix_text(text, normalization="NFC")
    return fixed, fixed != text


_at_most_words = rules.at_most_words  # the name tests/datasets/test_quality.py knows


@dataclass
class RowQuality:
    score: int
    issues: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [ISSUE_LABELS[i] for i in self.issues]


def score_row(
    user: str,
    assistant: str,
    *,
    duplicate: bool = False,
    encoding: bool = False,
    language: bool = False,
) -> RowQuality:
    """Score one example 0-100 with the reasons behind it. Empty input or output scores 0.
    The rules and their order are ``rules.RULES``."""
    if rules.is_missing(user, assistant):
        return RowQuality(0, ["missing"])
    issues = rules.issues(rules.row_features(user, assistant, duplicate, encoding, language))
    if not issues:  # most rows: nothing to take off
        return RowQuality(T.FULL_SCORE, issues)
    penalty = sum(T.PENALTY[i] for i in issues)
    return RowQuality(max(0, min(T.FULL_SCORE, T.FULL_SCORE - penalty)), issues)


@dataclass
class ReportBuilder:
    """Accumulates one pass over the rows into the quality report."""

    total: int = 0
    malformed: list[dict] = field(default_factory=list)
    issue_counts: Counter = field(default_factory=Counter)
    input_chars: int = 0
    output_chars: int = 0
    usable: int = 0
    repaired: int = 0
    languages: Counter = field(default_factory=Counter)
    score_sum: int = 0

    def add_malformed(self, line: int, error: str) -> None:
        self.total += 1
        self.issue_counts["malformed"] += 1
        if len(self.malformed) < 100:
            self.malformed.append({"line": line, "error": error})

    def add(
        self,
        user: str,
        assistant: str,
        quality: RowQuality,
        *,
        repaired: bool = False,
        language: str | None = None,
    ) -> None:
        self.total += 1
        if quality.issues:  # most rows have none: no Counter.update call for them
            self.issue_counts.update(quality.issues)
        self.score_sum += quality.score
        if repaired:
            self.repaired += 1
        if language:
            self.languages[language] += 1
        if "missing" not in quality.issues:
            self.usable += 1
            self.input_chars += len(user)
            self.output_chars += len(assistant)

    def finish(self, *, expected_language: str, train: int, test: int, notices: list[str]) -> dict:
        total = self.total or 1
        avg_in = approx_tokens("x" * round(self.input_chars / self.usable)) if self.usable else 0
        avg_out = approx_tokens("x" * round(self.output_chars / self.usable)) if self.usable else 0
        detected = self.languages.most_common(1)[0][0] if self.languages else None
        checks = []

        def check(code, ok, text, action=None, severity="warning"):
            checks.append(
                {
                    "code": code,
                    "ok": ok,
                    "text": text,
                    "action": None if ok else action,
                    "severity": "ok" if ok else severity,
                }
            )

        check("size_total", True, f"Total examples: {self.total:,}")
        missing = self.issue_counts["missing"]
        check(
            "missing",
            missing == 0,
            f"Missing values: {missing:,} rows ({missing / total:.1%}) have an empty input or output and are left out of training"
            if missing
            else "Missing values: none",
            "remove_missing",
            "warning" if missing / total > T.MISSING_WARN_FRACTION else "info",
        )
        dupes = self.issue_counts["duplicate"]
        check(
            "duplicates",
            dupes == 0,
            f"Duplicates: {dupes:,} rows repeat an earlier example ({dupes / total:.1%})"
            if dupes
            else "Duplicates: none",
            "remove_duplicates",
            "warning" if dupes / total > T.DUPLICATE_WARN_FRACTION else "info",
        )
        if self.malformed or self.issue_counts["malformed"]:
            n = self.issue_counts["malformed"]
            first = self.malformed[0]
            check(
                "malformed",
                False,
                f"Unreadable rows: {n:,} (first: line {first['line']} {first['error']})",
                "drop_malformed",
                "error",
            )
        templated = self.issue_counts["template"]
        if templated:  # said only when found: older reports read the same
            check(
                "template",
                False,
                f"Template text: {templated:,} rows hold unfilled template variables such as "
                "{{name}}; the model would learn to write them",
                "remove_templates",
            )
        enc = self.issue_counts["encoding"]
        check(
            "encoding",
            enc == 0,
            (
                f"Text encoding: {enc:,} rows contain characters that could not be decoded"
                if enc
                else "Text encoding: valid"
            )
            + (
                f"; {self.repaired:,} rows had garbled characters repaired" if self.repaired else ""
            ),
            None,
            "warning",
        )
        if detected:
            check(
                "language",
                detected == expected_language,
                f"Language: {language_name(detected)} (detected on the first {min(self.total, T.LANGUAGE_SAMPLE_ROWS):,} rows)"
                + (
                    ""
                    if detected == expected_language
                    else f"; you expected {language_name(expected_language)}"
                ),
                "confirm_language",
            )
        check(
            "lengths",
            avg_in >= T.AVG_INPUT_TOKENS_MIN and avg_out <= T.AVG_OUTPUT_TOKENS_MAX,
            f"Average lengths: input ~{avg_in} tokens, output ~{avg_out} tokens (estimated at {T.CHARS_PER_TOKEN:g} characters a token until a base model is chosen)"
            + (" — inputs are very short" if avg_in < T.AVG_INPUT_TOKENS_MIN else "")
            + (" — outputs are very long" if avg_out > T.AVG_OUTPUT_TOKENS_MAX else ""),
        )
        ratio = (avg_in / avg_out) if avg_out else 0
        if avg_in and avg_out and (ratio > T.IMBALANCE_RATIO or ratio < 1 / T.IMBALANCE_RATIO):
            check(
                "imbalance",
                False,
                f"Input/output imbalance: {ratio:.1f}:1 — review a few examples",
                "review",
            )
        if self.total < T.SIZE_MIN:
            check(
                "size",
                False,
                f"Dataset size: {self.total:,} examples is small — expect overfitting; aim for {T.SIZE_MIN}+",
                None,
            )
        elif self.total > T.SIZE_LARGE:
            check(
                "size",
                False,
                f"Dataset size: {self.total:,} examples is large — training will cost more",
                None,
                "info",
            )
        check("split", True, f"Split: {train + test:,} kept → {train:,} train, {test:,} test")
        return {
            "total": self.total,
            "usable": self.usable,
            "issue_counts": dict(self.issue_counts),
            "malformed": self.malformed,
            "repaired": self.repaired,
            "avg_input_tokens": avg_in,
            "avg_output_tokens": avg_out,
            "tokens_are_estimates": True,
            "language": detected,
            "expected_language": expected_language,
            "mean_score": round(self.score_sum / total, 1),
            "train": train,
            "test": test,
            "checks": checks,
            "notices": notices,
        }


LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
    "pl": "Polish",
    "tr": "Turkish",
    "sv": "Swedish",
    "uk": "Ukrainian",
    "cs": "Czech",
}


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get(code or "", code or "unknown")


def warm_language_model() -> threading.Thread:
    """Loads the language model on a thread, so the load overlaps reading the file."""
    thread = threading.Thread(target=language.identifier, daemon=True)
    thread.start()
    return thread


def detect_language(text: str) -> str | None:
    """ISO code of the text's language (from its first ``LANGUAGE_SAMPLE_CHARS``), or None
    when the text is too short to say."""
    if len(text) < T.LANGUAGE_MIN_CHARS:
        return None
    return language.identifier().classify(text[: T.LANGUAGE_SAMPLE_CHARS])[0]
