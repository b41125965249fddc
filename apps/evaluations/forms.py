from django import forms
from django.core.exceptions import ValidationError

from workers.evaluation.benchmarks import BENCHMARKS

from .services import test_sets

TEST_SET_ERROR = "Choose one of this project's dataset versions with a test split."


class TestSetField(forms.ModelChoiceField):
    """Any value that is not one of the choices (a malformed id included) gets the same sentence."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(TEST_SET_ERROR, code="invalid_choice") from None


class EvaluationStartForm(forms.Form):
    """What to evaluate on: one of the project's test sets (another team's, or nonsense, is not a
    choice) and optional standard benchmarks."""

    dataset_version = TestSetField(queryset=None, required=False)
    benchmarks = forms.MultipleChoiceField(
        choices=[(key, b.name) for key, b in BENCHMARKS.items()],
        required=False,
        error_messages={"invalid_choice": "Unknown benchmark."},
    )

    def __init__(self, *args, project, require_test_set=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset_version"].queryset = test_sets(project)
        self.fields["dataset_version"].required = require_test_set
        self.fields["dataset_version"].error_messages["required"] = TEST_SET_ERROR

    def error_sentence(self) -> str:
        return " ".join(e for errors in self.errors.values() for e in errors)
