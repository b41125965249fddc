from __future__ import annotations

from django import forms

from .records import template_fields


class MappingForm(forms.Form):
    inputs = forms.MultipleChoiceField(
        label="Input column(s)", help_text="What the user says. Several are joined by the template."
    )
    output = forms.ChoiceField(label="Output column", help_text="What the model should answer.")
    system = forms.ChoiceField(label="System prompt column", required=False)
    template = forms.CharField(
        label="Input template",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How input columns are combined; {column} is replaced by the column's value. Empty parts vanish.",
    )

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c, c) for c in columns]
        self.columns = columns
        self.fields["inputs"].choices = choices
        self.fields["output"].choices = choices
        self.fields["system"].choices = [("", "— none —"), *choices]

    def clean(self):
        data = super().clean()
        inputs, output, system = (
            data.get("inputs") or [],
            data.get("output"),
            data.get("system") or None,
        )
        if output and output in inputs:
            self.add_error("output", "The output column cannot also be an input.")
        if system and (system in inputs or system == output):
            self.add_error("system", "The system prompt column must be a column of its own.")
        template = (data.get("template") or "").strip() or "\n\n".join(
            "{" + c + "}" for c in inputs
        )
        try:
            fields = template_fields(template)
        except ValueError:
            self.add_error(
                "template",
                "The template has an unmatched { or }. Write {column name} for each column.",
            )
            fields = []
        unknown = [f for f in fields if f not in self.columns]
        if unknown:
            self.add_error("template", "Unknown column(s) in the template: " + ", ".join(unknown))
        elif inputs and not fields:
            self.add_error(
                "template", "The template must use at least one column, like {" + inputs[0] + "}."
            )
        data["template"] = template
        data["system"] = system
        return data

    def mapping(self) -> dict:
        d = self.cleaned_data
        return {
            "kind": "columns",
            "inputs": d["inputs"],
            "output": d["output"],
            "system": d["system"],
            "template": d["template"],
            "ignored": [
                c
                for c in self.columns
                if c not in d["inputs"] and c not in (d["output"], d["system"])
            ],
            "confidence": 1.0,
            "reasons": {},
        }
