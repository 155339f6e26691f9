"""NHS numbers: ten digits, the last a modulus-11 check digit (NHS Data Dictionary).

Pure functions; the database enforces the same rule (vigil_nhs_number_valid in migration 0001).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s-]")


class InvalidNhsNumber(ValueError):
    """Not ten digits, or the check digit does not match."""


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when the remainder makes the number invalid
    (a computed check digit of 10 is never issued)."""
    if len(first_nine) != 9 or not first_nine.isdigit() or not first_nine.isascii():
        raise InvalidNhsNumber(f"{first_nine!r} is not nine digits")
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, range(10, 1, -1),
                                                              strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def valid_nhs_number(seed: int, step: int = 1) -> str:
    """A valid NHS number for seeding tests and benchmarks: nine digits from `seed` (modulo
    10**9), moved on by `step` until they take a check digit (one in eleven never does)."""
    while True:
        first = f"{seed % 10**9:09d}"
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
        seed += step


def normalise_nhs_number(text: str) -> str:
    """The ten digits of a valid NHS number ("943 476 5919" -> "9434765919")."""
    digits = _SEPARATORS.sub("", text)
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        raise InvalidNhsNumber(f"{text!r} is not a ten-digit NHS number")
    expected = check_digit(digits[:9])
    if expected is None or expected != int(digits[9]):
        raise InvalidNhsNumber(f"{text!r} fails the NHS number check digit")
    return digits


def is_valid_nhs_number(text: str) -> bool:
    try:
        normalise_nhs_number(text)
    except InvalidNhsNumber:
        return False
    return True
