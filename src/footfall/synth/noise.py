"""How people's details get mangled at a till: typos, case and whitespace, phone formats, postcodes.

Two kinds of noise, kept apart on purpose: *normalisable* noise (case, surrounding spaces, phone
formats) that a correct normaliser removes, and *typos* (a swapped, dropped or substituted character)
that only fuzzy matching can recover. Rates are the module constants below.
"""

from __future__ import annotations

import random
import string

EMAIL_TYPO_RATE = 0.10
NAME_TYPO_RATE = 0.10
EMAIL_CASE_RATE = 0.25
EMAIL_SPACE_RATE = 0.10


def typo(rng: random.Random, text: str, protected: str = "@. ") -> str:
    """`text` with one adjacent swap, dropped character or substituted letter (never on `protected`)."""
    positions = [i for i, ch in enumerate(text) if ch not in protected]
    if len(positions) < 2:
        return text
    i = rng.choice(positions[:-1])
    kind = rng.randrange(3)
    if kind == 0 and text[i + 1] not in protected and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    letters = string.ascii_lowercase if text[i].islower() or not text[i].isalpha() else string.ascii_uppercase
    replacement = rng.choice([c for c in letters if c != text[i]])
    return text[:i] + replacement + text[i + 1 :]


def messy_email(rng: random.Random, email: str) -> str:
    """An email as typed into a till or e-receipt form: sometimes a typo, odd case, stray spaces."""
    if rng.random() < EMAIL_TYPO_RATE:
        email = typo(rng, email)
    if rng.random() < EMAIL_CASE_RATE:
        email = rng.choice((email.upper(), email.capitalize(), email.title()))
    if rng.random() < EMAIL_SPACE_RATE:
        email = rng.choice((" ", "  ", "")) + email + rng.choice((" ", "\t", ""))
    return email


def messy_name(rng: random.Random, first_name: str, last_name: str) -> str:
    """A name as a cashier keys it: usually "First Last", sometimes upper case, ~10% with a typo."""
    name = f"{first_name} {last_name}"
    if rng.random() < 0.15:
        name = name.upper()
    if rng.random() < NAME_TYPO_RATE:
        name = typo(rng, name, protected=" '")
    return name


def phone_format(rng: random.Random, e164: str) -> str:
    """A UK mobile in one of the formats people write it ("+44 7700 900123", "07700 900123", ...)."""
    national = "0" + e164[3:]  # +447700900123 -> 07700900123
    return rng.choice(
        (
            e164,
            f"+44 {e164[3:7]} {e164[7:]}",
            f"{national[:5]} {national[5:]}",
            national,
            f"({national[:5]}) {national[5:8]} {national[8:]}",
        )
    )


def messy_postcode(rng: random.Random, postcode: str) -> str:
    """A postcode written without its space or in lower case now and then."""
    roll = rng.random()
    if roll < 0.2:
        return postcode.replace(" ", "")
    if roll < 0.3:
        return postcode.lower()
    return postcode
