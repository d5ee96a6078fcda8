"""identity.toml: settings as data, validated, with errors that name the file and the field."""

from __future__ import annotations

import pytest

from footfall.errors import SettingsError
from footfall.identity import IdentitySettings, MergeProtection, load_identity_settings


def test_missing_file_gives_the_defaults(project):
    assert load_identity_settings(project) == IdentitySettings()


def test_settings_file_overrides_only_what_it_names(project):
    (project.root / "identity.toml").write_text(
        '[normalisation]\nplus_addressing = "keep"\n\n[protection]\nblocked = ["email:orders@shop.co.uk"]\n'
        '[protection.limits]\nemail = 2\n\n[probabilistic]\nthreshold = 0.95\n'
        '[[probabilistic.comparisons]]\ncolumn = "email"\nlevenshtein = [1]\n'
    )
    settings = load_identity_settings(project)
    assert settings.normalisation.plus_addressing == "keep"
    assert settings.protection.limits["email"] == 2 and settings.protection.limits["user_id"] == 1
    assert settings.protection.blocked == ["email:orders@shop.co.uk"]
    assert settings.probabilistic.threshold == 0.95
    assert [c.column for c in settings.probabilistic.comparisons] == ["email"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[protection.limits]\nemail = 0\n", "limits must be at least 1"),
        ("[protection.limits]\nfax = 2\n", "unknown identifier types"),
        ("[probabilistic]\nthreshold = 1.5\n", "probabilistic.threshold"),
        ("[probabilistic]\nthreshhold = 0.9\n", "threshhold"),
        ("[protection\n", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_the_field(project, text, message):
    (project.root / "identity.toml").write_text(text)
    with pytest.raises(SettingsError, match=message) as raised:
        load_identity_settings(project)
    assert "identity.toml" in str(raised.value)


def test_priority_may_name_only_some_types_the_rest_keep_their_order():
    protection = MergeProtection(priority=["email", "user_id"])
    assert protection.priority[:3] == ["email", "user_id", "loyalty_id"]
    assert len(protection.priority) == len(set(protection.priority))
