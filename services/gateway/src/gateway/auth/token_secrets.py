"""The token itself: a random secret with a prefix secret scanners can match (`cc_`), kept
only as its SHA-256. The secret has 256 bits of entropy, so a plain hash (no salt, no slow
KDF) cannot be reversed, and lets a request find its token with one indexed lookup."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "cc_"
_SHAPE = re.compile(r"^cc_[A-Za-z0-9_-]{43}$")


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 32 bytes: 43 characters


def looks_like_token(text: str) -> bool:
    """A cheap check before any lookup: garbage never reaches the database."""
    return bool(_SHAPE.match(text))


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def same_hash(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
