"""Encryption at rest for organizations' Promptster API tokens.

Tokens are Fernet-encrypted with TOKEN_ENCRYPTION_KEY, or with a key derived from SECRET_KEY
when that is unset. A token that can no longer be decrypted (the key changed) is reported as
missing, so an admin can enter it again; it is never echoed anywhere.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class TokenUnreadable(Exception):
    """The stored token cannot be decrypted with the configured key."""


def _fernet() -> Fernet:
    configured = settings.TOKEN_ENCRYPTION_KEY
    if configured:
        try:
            return Fernet(configured.encode())
        except ValueError:
            material = configured.encode()  # any passphrase: stretch it to a Fernet key below
    else:
        material = settings.SECRET_KEY.encode()
    digest = hashlib.sha256(b"reviewer.crypto.token-key:" + material).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_token(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def decrypt_token(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise TokenUnreadable("the stored API token cannot be decrypted") from exc
