"""Sealed boxes: a store encrypts a customer's pickup secrets so that only the hub can read them.

The store issues the pickup code and QR at acceptance and must get them to the customer
through the hub, but it keeps only keyed hashes: the clear values must not sit in its outbox
(a store can be offline for hours with a copied disk). So the allocation names the hub's
public key (``seal_to``), and the store seals the secrets to it: an ephemeral X25519 key
agreement, HKDF-SHA256, and ChaCha20-Poly1305. The hub opens them with its private key only
when it hands them to the notifier. A store cannot read what another store sealed.

Wire form: base64url of ``ephemeral public key (32 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: base64url of a 32-byte X25519 public key (44 characters with padding).
PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9_-]{43}=$"
_INFO = b"storelink-seal-v1"
_NONCE = bytes(12)  # every message has its own key (fresh ephemeral pair): a fixed nonce is safe


class SealError(ValueError):
    """A sealed box that cannot be opened (wrong key, altered, or not a sealed box)."""


def new_private_key() -> str:
    """A fresh private key, base64url (for the hub's settings)."""
    raw = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.urlsafe_b64encode(raw).decode()


def public_key(private_key_b64: str) -> str:
    private = _private(private_key_b64)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.urlsafe_b64encode(raw).decode()


def seal(public_key_b64: str, plaintext: bytes) -> str:
    try:
        recipient = X25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(public_key_b64))
    except ValueError as exc:
        raise SealError(f"not an X25519 public key: {exc}") from exc
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _key(ephemeral.exchange(recipient), eph_raw, base64.urlsafe_b64decode(public_key_b64))
    box = ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, eph_raw)
    return base64.urlsafe_b64encode(eph_raw + box).decode()


def open_sealed(private_key_b64: str, sealed: str) -> bytes:
    private = _private(private_key_b64)
    try:
        data = base64.urlsafe_b64decode(sealed)
    except ValueError as exc:
        raise SealError("not base64") from exc
    if len(data) < 32 + 16:
        raise SealError("too short to be a sealed box")
    eph_raw, box = data[:32], data[32:]
    own_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _key(private.exchange(X25519PublicKey.from_public_bytes(eph_raw)), eph_raw, own_raw)
    try:
        return ChaCha20Poly1305(key).decrypt(_NONCE, box, eph_raw)
    except InvalidTag as exc:
        raise SealError("the sealed box was not made for this key, or was altered") from exc


def _private(private_key_b64: str) -> X25519PrivateKey:
    try:
        return X25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(private_key_b64))
    except ValueError as exc:
        raise SealError(f"not an X25519 private key: {exc}") from exc


def _key(shared: bytes, eph_raw: bytes, recipient_raw: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + eph_raw + recipient_raw
    ).derive(shared)
