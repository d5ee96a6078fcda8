"""Normalising identifiers: the same email or phone typed differently is one identifier; garbage is none."""

from __future__ import annotations

import pytest

from footfall.identity.normalise import (
    NormalisationSettings,
    is_garbage_id,
    normalise_email,
    normalise_id,
    normalise_name,
    normalise_phone,
    normalise_postcode,
)

DEFAULTS = NormalisationSettings()


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Jane.Doe@Mail.co.uk", "jane.doe@mail.co.uk"),
        ("  jane.doe@mail.co.uk\t", "jane.doe@mail.co.uk"),
        ("JANE.DOE+NEWS@MAIL.CO.UK", "jane.doe@mail.co.uk"),
        ("mailto:jane.doe@mail.co.uk", "jane.doe@mail.co.uk"),
        ("jane.doe@googlemail.com", "jane.doe@gmail.com"),
    ],
)
def test_email_variants_normalise_to_one_address(raw, expected):
    assert normalise_email(raw, DEFAULTS) == (expected, None)


def test_plus_addressing_and_gmail_dots_follow_the_settings():
    keep = NormalisationSettings(plus_addressing="keep")
    dots = NormalisationSettings(email_dots="strip_gmail")
    assert normalise_email("jane+news@mail.co.uk", keep) == ("jane+news@mail.co.uk", None)
    assert normalise_email("j.a.n.e@gmail.com", dots) == ("jane@gmail.com", None)
    assert normalise_email("j.a.n.e@mail.co.uk", dots) == ("j.a.n.e@mail.co.uk", None)


@pytest.mark.parametrize(
    "raw, reason",
    [("", "placeholder"), ("null", "placeholder"), ("undefined", "placeholder"), ("test@test.com", "placeholder email"),
     ("someone@example.com", "placeholder email"), ("not an email", "invalid email"), ("jane@localhost", "invalid email")],
)
def test_garbage_emails_are_refused_with_a_reason(raw, reason):
    assert normalise_email(raw, DEFAULTS) == (None, reason)


@pytest.mark.parametrize("raw", ["+447700123456", "+44 7700 123456", "07700 123456", "07700123456", "(07700) 123 456"])
def test_uk_phone_formats_become_one_e164_number(raw):
    assert normalise_phone(raw, "GB", DEFAULTS) == ("+447700123456", None)


def test_phone_without_country_code_is_read_in_the_project_region():
    assert normalise_phone("(415) 555-2671", "US", DEFAULTS) == ("+14155552671", None)


@pytest.mark.parametrize("raw", ["0000000000", "1234567890", "999", "n/a", "phone"])
def test_garbage_phones_are_refused(raw):
    value, reason = normalise_phone(raw, "GB", DEFAULTS)
    assert value is None and reason in {"placeholder", "placeholder phone", "invalid phone"}


def test_valid_phone_check_also_refuses_reserved_ranges():
    drama = "07700 900123"  # Ofcom's range for fiction: possible, never allocated
    assert normalise_phone(drama, "GB", DEFAULTS)[0] == "+447700900123"
    assert normalise_phone(drama, "GB", NormalisationSettings(phone_check="valid")) == (None, "invalid phone")


@pytest.mark.parametrize("raw", ["", " ", "null", "undefined", "0", "00000000-0000-0000-0000-000000000000", "xxxx", "1111"])
def test_placeholder_ids_are_garbage(raw):
    assert is_garbage_id(raw)


@pytest.mark.parametrize("raw", ["u_1", "7", "a1b2", "f3ed9d2a-3097-41aa-a602-a6db57544548"])
def test_real_ids_are_not_garbage(raw):
    assert not is_garbage_id(raw)


def test_opaque_ids_are_trimmed_and_cased_by_type():
    assert normalise_id("device_id", " F3ED9D2A-3097-41AA ") == ("f3ed9d2a-3097-41aa", None)
    assert normalise_id("loyalty_id", "loy 123 456") == ("LOY123456", None)
    assert normalise_id("user_id", " User-7 ") == ("User-7", None)  # user ids keep their case


def test_names_and_postcodes_normalise_for_matching():
    assert normalise_name("  JANE   van  DOE ") == ("jane", "doe")
    assert normalise_name("Cher") == ("cher", None)
    assert normalise_postcode("ls14 2hh") == normalise_postcode("LS142HH") == "LS142HH"
