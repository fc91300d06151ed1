"""Secrets at rest: Fernet through MultiFernet, so keys can be rotated.

Encryption always uses the newest key (the first of ``CLARA_ENCRYPTION_KEYS``); decryption
tries every configured key, then the key file Clara generated on a first run without
configured keys (``CLARA_DATA_DIR/encryption.key``). So moving from the generated key to
configured ones is: set ``CLARA_ENCRYPTION_KEYS``, run ``python -m clara keys rotate``,
then delete the file. A token no key opens is a ``SecretKeyError`` naming what it belonged
to; there is never a plaintext fallback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..config import EncryptionSettings
from ..errors import SecretKeyError

__all__ = ["KEY_FILE", "SecretBox", "generate_key"]

logger = logging.getLogger(__name__)

KEY_FILE = "encryption.key"


def generate_key() -> str:
    """A new Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts secrets with a list of Fernet keys, newest first.

    Raises:
        SecretKeyError: no key at all, or a key that is not a Fernet key.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError(
                "no encryption key: set CLARA_ENCRYPTION_KEYS (python -m clara keys generate)"
            )
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except ValueError:
            raise SecretKeyError(
                "an encryption key is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
        self._multi = MultiFernet(self._fernets)
        self.key_count = len(keys)

    @classmethod
    def from_settings(
        cls, settings: EncryptionSettings, data_dir: Path, *, create: bool = True
    ) -> SecretBox:
        """The keys of the settings, then the generated key file if there is one.

        With no key configured and no key file, one is generated into the data directory
        (readable by its owner only) when ``create`` is set.
        """
        keys = [key.reveal() for key in settings.keys]
        path = data_dir / KEY_FILE
        if path.is_file():
            stored = path.read_text().strip()
            if stored and stored not in keys:
                keys.append(stored)
        elif not keys and create:
            data_dir.mkdir(parents=True, exist_ok=True)
            key = generate_key()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(key + "\n")
            logger.warning(
                "no CLARA_ENCRYPTION_KEYS: generated a key into %s (keep it: the secrets "
                "stored with it cannot be read without it)",
                path,
            )
            keys.append(key)
        return cls(keys)

    def encrypt(self, plaintext: str) -> bytes:
        return self._multi.encrypt(plaintext.encode())

    def decrypt(self, token: bytes, what: str) -> str:
        """The plaintext of ``token``; ``what`` names it in the error (e.g. 'oauth_tokens 3').

        Raises:
            SecretKeyError: none of the keys opens it.
        """
        try:
            return self._multi.decrypt(token).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"cannot decrypt {what}: none of the {self.key_count} encryption keys opens it "
                "(a key was removed before `python -m clara keys rotate`, or the wrong "
                "CLARA_ENCRYPTION_KEYS is set)"
            ) from None

    def rotate(self, token: bytes, what: str) -> bytes:
        """``token`` re-encrypted with the newest key."""
        try:
            return self._multi.rotate(token)
        except InvalidToken:
            raise SecretKeyError(
                f"cannot re-encrypt {what}: none of the {self.key_count} encryption keys opens it"
            ) from None
