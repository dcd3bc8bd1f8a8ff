"""The forms of hiring review: a scorecard, the decision, a note."""

from __future__ import annotations

from typing import Any

from django import forms

from reviewer.review.models import DIMENSIONS, Recommendation, Verdict

NOTE_MAX = 10_000
DIMENSION_NOTE_MAX = 300
SUMMARY_MAX = 5_000


def _dimension_fields(form: forms.Form, *, required: bool) -> None:
    for key, label in DIMENSIONS:
        form.fields[f"score_{key}"] = forms.TypedChoiceField(
            label=label,
            choices=[("", "—")] + [(str(n), str(n)) for n in range(1, 6)],
            coerce=int,
            empty_value=None,
            required=required,
        )
        form.fields[f"notes_{key}"] = forms.CharField(
            label=f"{label}: note", max_length=DIMENSION_NOTE_MAX, required=False
        )


class _DimensionForm(forms.Form):
    def scores(self) -> dict[str, int]:
        """{dimension: score} of the scored dimensions (cleaned data)."""
        return {
            key: self.cleaned_data[f"score_{key}"]
            for key, _ in DIMENSIONS
            if self.cleaned_data.get(f"score_{key}") is not None
        }

    def dimension_notes(self) -> dict[str, str]:
        return {
            key: self.cleaned_data[f"notes_{key}"].strip()
            for key, _ in DIMENSIONS
            if self.cleaned_data.get(f"notes_{key}", "").strip()
        }


class ScorecardForm(_DimensionForm):
    """POST /sessions/<id>/scorecard/: `score_<dimension>` (1–5 or empty),
    `notes_<dimension>`, `recommendation`, `summary`, and `submit=1` to submit."""

    recommendation = forms.ChoiceField(choices=[("", "—"), *Recommendation.choices], required=False)
    summary = forms.CharField(max_length=SUMMARY_MAX, required=False, widget=forms.Textarea)
    submit = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _dimension_fields(self, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("submit") and not self.errors:
            if not self.scores():
                raise forms.ValidationError("Score at least one dimension before submitting.")
            if not data.get("recommendation"):
                self.add_error("recommendation", "Choose a recommendation before submitting.")
        return data


class DecisionForm(_DimensionForm):
    """POST /sessions/<id>/decision/ (admins): `score_<dimension>`, `notes_<dimension>`,
    `decision` (advance, hold, reject)."""

    decision = forms.ChoiceField(choices=Verdict.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _dimension_fields(self, required=False)


class NoteForm(forms.Form):
    """POST /sessions/<id>/notes/: `event_id` (a stored event's id or key) and `body`."""

    event_id = forms.CharField(max_length=110)
    body = forms.CharField(max_length=NOTE_MAX, strip=True)


class NoteEditForm(forms.Form):
    body = forms.CharField(max_length=NOTE_MAX, strip=True)
