"""Normalising raw identifier values: emails, phone numbers and opaque ids, and recognising garbage.

Two raw values that mean the same identifier must become the same string before they are matched:
` Jane.Doe+news@Gmail.com ` and `jane.doe@gmail.com` are one email, `07700 900123` and
`+44 7700 900123` one phone. Values that identify nobody (`test@test.com`, `0000000000`, `null`,
`undefined`) would join thousands of strangers into one person, so they are classified as garbage:
ignored by resolution and counted in the garbage report.

These are plain Python functions: they run once per *distinct* raw value and the results are joined
back to the events in the engine (`footfall.identity.identifiers`).
"""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

# Placeholders that forms, SDKs and tills write when they have nothing (compared in lower case).
PLACEHOLDER_VALUES = frozenset(
    {"", "null", "none", "nil", "nan", "undefined", "n/a", "na", "-", "--", "0", "unknown", "anonymous",
     "test", "[object object]", "false", "true"}
)
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_REPEATED_OR_ZERO_ID = re.compile(r"^([0-9a-z])\1{3,}$|^[0\-]+$")


class NormalisationSettings(BaseModel):
    """How raw identifier values are normalised before matching (the `[normalisation]` settings)."""

    model_config = ConfigDict(extra="forbid")
    # "strip": jane+news@x.com is jane@x.com (mailbox providers deliver both to one inbox).
    plus_addressing: Literal["strip", "keep"] = "strip"
    # "strip_gmail": dots in Gmail local parts are ignored (j.doe@gmail.com is jdoe@gmail.com).
    email_dots: Literal["keep", "strip_gmail"] = "keep"
    # "possible": the number has a plausible length for its region; "valid": it is in an allocated
    # range too (stricter: also refuses reserved ranges such as UK drama numbers 07700 900xxx).
    phone_check: Literal["possible", "valid"] = "possible"
    garbage_emails: list[str] = Field(
        default_factory=lambda: ["test@test.com", "test@example.com", "no@email.com", "noemail@noemail.com",
                                 "none@none.com", "a@a.com", "email@email.com", "noreply@noreply.com"]
    )
    garbage_email_domains: list[str] = Field(
        default_factory=lambda: ["example.com", "example.org", "example.net", "test.com", "localhost", "invalid"]
    )
    garbage_phones: list[str] = Field(default_factory=lambda: ["1234567890", "0123456789", "01234567890"])


NormalisedValue = tuple[str | None, str | None]
"""(normalised value, None) for a usable value, or (None, reason) for garbage."""


def is_placeholder(raw: str) -> bool:
    """Whether a raw value is a placeholder such as "", "null" or "undefined"."""
    return raw.strip().lower() in PLACEHOLDER_VALUES


def normalise_email(raw: str, settings: NormalisationSettings) -> NormalisedValue:
    """An email in canonical form: trimmed, lower case, plus tag and Gmail dots per the settings."""
    if is_placeholder(raw):
        return None, "placeholder"
    email = "".join(raw.split()).lower()  # spaces inside a typed address are never part of it
    if email.startswith("mailto:"):
        email = email[len("mailto:"):]
    if not _EMAIL_SHAPE.match(email):
        return None, "invalid email"
    local, _, domain = email.rpartition("@")
    if settings.plus_addressing == "strip" and "+" in local:
        local = local.split("+", 1)[0]
    if settings.email_dots == "strip_gmail" and domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    if domain == "googlemail.com":
        domain = "gmail.com"
    email = f"{local}@{domain}"
    if not local or email in settings.garbage_emails or domain in settings.garbage_email_domains:
        return None, "placeholder email"
    return email, None


def normalise_phone(raw: str, region: str, settings: NormalisationSettings) -> NormalisedValue:
    """A phone number in E.164 (`+447700900123`), reading numbers without a country code in `region`."""
    if is_placeholder(raw):
        return None, "placeholder"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, "invalid phone"
    national = str(number.national_number)
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(set(national)) <= 1 or digits in settings.garbage_phones or national in settings.garbage_phones:
        return None, "placeholder phone"
    check = phonenumbers.is_valid_number if settings.phone_check == "valid" else phonenumbers.is_possible_number
    if not check(number):
        return None, "invalid phone"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def is_garbage_id(value: str) -> bool:
    """Whether an opaque id (user, anonymous, device, loyalty, card token) is a placeholder.

    Besides the placeholders, ids of one character repeated four or more times (`xxxx`, `1111`) and ids
    of zeros and dashes only (`00000000-0000-0000-0000-000000000000`, an iOS advertising id with
    tracking off) are garbage.
    """
    text = value.strip().lower()
    return text in PLACEHOLDER_VALUES or bool(_REPEATED_OR_ZERO_ID.match(text))


def normalise_id(identifier_type: str, raw: str) -> NormalisedValue:
    """An opaque id trimmed (device ids lower-cased: UUIDs; loyalty numbers upper-cased without
    spaces), or garbage."""
    if is_garbage_id(raw):
        return None, "placeholder"
    value = raw.strip()
    if identifier_type == "device_id":
        value = value.lower()
    elif identifier_type == "loyalty_id":
        value = "".join(value.split()).upper()
    return value, None


def normalise_identifier(
    identifier_type: str, raw: str, settings: NormalisationSettings, phone_region: str
) -> NormalisedValue:
    """Any identifier type's raw value in canonical form, or (None, reason) for garbage."""
    if identifier_type == "email":
        return normalise_email(raw, settings)
    if identifier_type == "phone":
        return normalise_phone(raw, phone_region, settings)
    return normalise_id(identifier_type, raw)


def normalise_name(raw: str | None) -> tuple[str | None, str | None]:
    """(first name, last name) in lower case from a full name, for probabilistic matching."""
    if raw is None or is_placeholder(raw):
        return None, None
    parts = [p for p in re.split(r"[\s,]+", raw.strip().lower()) if p]
    if not parts:
        return None, None
    return parts[0], (parts[-1] if len(parts) > 1 else None)


def normalise_postcode(raw: str | None) -> str | None:
    """A postcode in upper case without spaces (`ls14 2hh` and `LS142HH` are one postcode)."""
    if raw is None or is_placeholder(raw):
        return None
    text = "".join(raw.split()).upper()
    return text or None
