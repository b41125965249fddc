"""Secrets users give us are stored encrypted; keys rotate without losing them."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from vibeflow_site import encryption


def test_round_trip_hides_the_secret(settings):
    settings.ENCRYPTION_KEYS = []
    sealed = encryption.encrypt("hf_secret_value")
    assert "hf_secret_value" not in sealed
    assert encryption.decrypt(sealed) == "hf_secret_value"
    assert encryption.encrypt("hf_secret_value") != sealed  # a fresh IV each time


def test_a_new_key_first_still_reads_what_the_old_one_sealed(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    sealed = encryption.encrypt("token")
    settings.ENCRYPTION_KEYS = [new, old]
    assert encryption.decrypt(sealed) == "token"
    settings.ENCRYPTION_KEYS = [new]
    with pytest.raises(encryption.CannotDecrypt):
        encryption.decrypt(sealed)


def test_the_derived_key_follows_secret_key(settings):
    settings.ENCRYPTION_KEYS = []
    sealed = encryption.encrypt("token")
    settings.SECRET_KEY = "another secret key entirely, at least fifty characters long!!"
    with pytest.raises(encryption.CannotDecrypt):
        encryption.decrypt(sealed)
