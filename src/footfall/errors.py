"""One error hierarchy for Footfall: each error names the input at fault and how to fix it.

The CLI maps every `FootfallError` to exit code 2 in one place (`footfall.cli`); the API maps them to
HTTP statuses in one place. Nothing else catches them.
"""

from __future__ import annotations

from dataclasses import dataclass


class FootfallError(Exception):
    """Base class: a problem with the user's input or set-up, never a bug."""


class NotAProjectError(FootfallError):
    """The directory given with --project is not a Footfall project."""

    def __init__(self, directory: str) -> None:
        super().__init__(
            f"{directory} is not a Footfall project (no footfall.toml). "
            f"Create one with `footfall init {directory}` or pass --project DIR."
        )


class SettingsError(FootfallError):
    """footfall.toml holds a value Footfall cannot use."""


@dataclass
class InputLocation:
    """Where in an input file a problem is: file, 1-based data row (None for the whole file), column."""

    file: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)


class InputFileError(FootfallError):
    """A file to import is missing, unreadable or holds invalid rows. Nothing from it was written."""

    def __init__(self, location: InputLocation, problem: str, hint: str = "") -> None:
        self.location = location
        self.problem = problem
        self.hint = hint
        message = f"{location}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
