"""Secrets for bearer tokens and enrollment codes, and how they are stored (as digests only).

Both secrets are random and long enough that an unsalted SHA-256 is the right digest: there
is no dictionary to attack, and one indexed lookup finds the row.
"""

import hashlib
import secrets

# No 0/O, 1/I/L or U/V pairs to misread when a nurse reads a code aloud.
ENROLLMENT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
ENROLLMENT_CODE_LENGTH = 12  # 29**12 ≈ 3.5e17 possibilities, and redemption is rate limited


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_enrollment_code() -> str:
    raw = "".join(secrets.choice(ENROLLMENT_ALPHABET) for _ in range(ENROLLMENT_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, ENROLLMENT_CODE_LENGTH, 4))


def normalize_enrollment_code(code: str) -> str:
    """Accept what people type: lower case, with spaces, or without the dashes."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(cleaned[i : i + 4] for i in range(0, len(cleaned), 4))
