"""Identity-resolution settings: normalisation, merge protection and the Splink model, as data.

They live in `identity.toml` next to `footfall.toml` (every table optional; defaults otherwise):

    [normalisation]
    plus_addressing = "strip"

    [protection]
    blocked = ["email:orders@shop.example"]
    [protection.limits]
    email = 3

    [probabilistic]
    threshold = 0.95

The phone region comes from the project's `phone_region` setting.
"""

from __future__ import annotations

import tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from footfall.errors import SettingsError
from footfall.identity.normalise import NormalisationSettings
from footfall.identity.probabilistic import ProbabilisticSettings
from footfall.identity.protection import MergeProtection
from footfall.project import Project

SETTINGS_FILE = "identity.toml"


class IdentitySettings(BaseModel):
    """Everything `resolve_identities` can be told."""

    model_config = ConfigDict(extra="forbid")
    normalisation: NormalisationSettings = Field(default_factory=NormalisationSettings)
    protection: MergeProtection = Field(default_factory=MergeProtection)
    probabilistic: ProbabilisticSettings = Field(default_factory=ProbabilisticSettings)


def load_identity_settings(project: Project) -> IdentitySettings:
    """The project's identity settings from `identity.toml` (defaults when the file is absent)."""
    path = project.root / SETTINGS_FILE
    if not path.is_file():
        return IdentitySettings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    try:
        return IdentitySettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{path}: {problems}") from None
