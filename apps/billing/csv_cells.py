"""Cells of the CSV files we hand to users, made safe to open in a spreadsheet."""

from __future__ import annotations

# A text cell starting with one of these is read as a formula by Excel, LibreOffice and Google
# Sheets (tab and carriage return too, per OWASP's CSV injection guidance): a project named
# `=cmd|' /C calc'!A0` would run a command on the machine of whoever opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A leading quote makes a spreadsheet show such text as text. Only strings are touched:
    numbers (a negative quantity included) must stay numbers in the export."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
