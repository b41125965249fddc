"""Secrets that users hand us (a Hugging Face token) are stored encrypted, never in clear.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a MultiFernet key ring:
`ENCRYPTION_KEYS` lists Fernet keys, the first encrypts and all of them decrypt, so a key can be
rotated by putting a new one first. Without it the key is derived from SECRET_KEY (HKDF), so a
fresh installation works and rotating SECRET_KEY alone makes old secrets unreadable (they are then
asked for again, never guessed).
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CannotDecrypt(Exception):
    """The stored secret was encrypted with a key this installation no longer has."""


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"vibeflow", info=b"stored secrets"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@cache
def _ring(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys] or [Fernet(_derived_key(secret_key))])


def _fernet() -> MultiFernet:
    return _ring(tuple(settings.ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise CannotDecrypt("this secret was encrypted with a key that is no longer set") from exc
