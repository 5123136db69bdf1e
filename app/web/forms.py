"""Carry a service's field errors back onto a WTForms form."""

from __future__ import annotations

from flask_wtf import FlaskForm

from app.errors import AppError


def apply_error(form: FlaskForm, error: AppError) -> None:
    """Attach field errors where the form has those fields; the rest become form errors."""
    placed = False
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
            placed = True
    if not placed or not error.fields:
        form.form_errors.append(error.message)
