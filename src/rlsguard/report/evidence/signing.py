"""Optional Ed25519 signatures on the history's records: a run signs its record with the
private key ``RLSGUARD_SIGNING_KEY`` gives (PEM text, or the path of a PEM file), and
``rlsguard evidence verify --public-key PEM`` checks every record against the public key.
A chain alone cannot tell a last record rewritten with its files; a signature by a key
the rewriter does not hold can. Needs the ``cryptography`` package (``rlsguard[sign]``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlsguard.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNING_KEY_ENV = "RLSGUARD_SIGNING_KEY"
SIGNATURE = "signature"
ALGORITHM = "ed25519"


def signing_key(environ: Mapping[str, str] = os.environ) -> Ed25519PrivateKey | None:
    """The key the environment gives, or None; a key that cannot be used is an error
    before anything runs (evidence that was meant to be signed must not come out unsigned)."""
    given = environ.get(SIGNING_KEY_ENV, "").strip()
    if not given:
        return None
    serialization, ed25519 = _cryptography(f"{SIGNING_KEY_ENV} is set")
    pem = _pem(given, SIGNING_KEY_ENV)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"{SIGNING_KEY_ENV} is not an unencrypted PEM private key: {error}"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{SIGNING_KEY_ENV} holds a {type(key).__name__}, not an Ed25519 key")
    private: Ed25519PrivateKey = key
    return private


def pin_key_path(environ: MutableMapping[str, str] = os.environ) -> None:
    """A key given as a relative path, made absolute, for a run that changes folder."""
    given = environ.get(SIGNING_KEY_ENV, "").strip()
    if given and not given.startswith("-----BEGIN"):
        environ[SIGNING_KEY_ENV] = str(Path(given).expanduser().resolve())


def public_key(path: Path) -> Ed25519PublicKey:
    serialization, ed25519 = _cryptography("--public-key is given")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read the public key {path}: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"{path} is not a PEM public key: {error}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    public: Ed25519PublicKey = key
    return public


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    serialization, _ed25519 = _cryptography("a key is used")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed(record: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    value = key.sign(_payload(record))
    return {
        **record,
        SIGNATURE: {
            "algorithm": ALGORITHM,
            "key": key_id(key.public_key()),
            "value": base64.b64encode(value).decode(),
        },
    }


def signature_problem(number: int, record: dict[str, Any], key: Ed25519PublicKey) -> str | None:
    """Why record ``number`` is not signed by ``key``, or None when it is."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415  (optional)

    signature = record.get(SIGNATURE)
    if not isinstance(signature, dict):
        return f"record {number} ({record.get('time')}) is not signed"
    if signature.get("key") != key_id(key):
        return f"record {number} is signed by key {signature.get('key')}, not by {key_id(key)}"
    try:
        key.verify(base64.b64decode(str(signature.get("value"))), _payload(record))
    except (InvalidSignature, ValueError):
        return f"record {number} ({record.get('time')}) does not match its signature: it was edited"
    return None


def _payload(record: dict[str, Any]) -> bytes:
    unsigned = {key: value for key, value in record.items() if key != SIGNATURE}
    return json.dumps(unsigned, sort_keys=True).encode()


def _pem(given: str, where: str) -> bytes:
    if given.startswith("-----BEGIN"):
        return given.encode()
    try:
        return Path(given).expanduser().read_bytes()
    except OSError as error:
        raise ConfigError(
            f"{where} is neither PEM text nor a readable file ({given}: {error.strerror})"
        ) from None


def _cryptography(why: str) -> tuple[Any, Any]:
    try:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415  (optional)
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            f"{why}, and signing needs the cryptography package: pip install 'rlsguard[sign]'"
        ) from None
    return serialization, ed25519
