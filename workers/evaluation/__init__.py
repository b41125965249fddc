"""The evaluation engine: base vs tuned answers on a test split, metrics, quality score. No Django."""

from .run import EvalResult, EvalSpec, EvaluationError, evaluate

__all__ = ["EvalResult", "EvalSpec", "EvaluationError", "evaluate"]
