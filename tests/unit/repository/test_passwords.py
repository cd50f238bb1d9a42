"""Password hashing, DSpace style: salted SHA-512 iterated 1024 times."""

from __future__ import annotations

import hashlib

import pytest

from aip.model import EPerson
from aip.repository import auth


def _reference(password: str, salt_hex: str) -> str:
    """DSpace's PasswordHash: digest(salt + password), then 1023 more rounds of digest."""
    digest = hashlib.sha512(bytes.fromhex(salt_hex) + password.encode("utf-8")).digest()
    for _ in range(1023):
        digest = hashlib.sha512(digest).digest()
    return digest.hex()


def test_hash_matches_dspace_algorithm_for_a_given_salt() -> None:
    salt = "00112233445566778899aabbccddeeff"
    hashed, used_salt, algorithm = auth.hash_password("s3cret", salt)
    assert (used_salt, algorithm) == (salt, "SHA-512")
    assert hashed == _reference("s3cret", salt)
    assert len(hashed) == 128


def test_each_hash_gets_a_fresh_salt() -> None:
    first = auth.hash_password("same")
    second = auth.hash_password("same")
    assert first[1] != second[1]
    assert first[0] != second[0]
    assert len(first[1]) == 32
    int(first[1], 16)  # hex


@pytest.mark.parametrize("password", ["s3cret", "pässwörd ✓", ""])
def test_check_password_round_trip(password: str) -> None:
    hashed, salt, algorithm = auth.hash_password(password)
    person = EPerson(email="p@example.org", password_hash=hashed, salt=salt,
                     digest_algorithm=algorithm)
    assert auth.check_password(person, password)
    assert not auth.check_password(person, password + "x")


def test_no_hash_never_matches() -> None:
    assert not auth.check_password(EPerson(email="p@example.org"), "")
    assert not auth.check_password(EPerson(email="p@example.org", password_hash="ab"), "x")
