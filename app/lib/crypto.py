"""Personal data at rest: AES-GCM encryption and an HMAC blind index for look-ups.

ID numbers are stored encrypted (``seal``: ``<key id>:<base64 nonce+ciphertext>``, the key
id authenticated with it) and found by their blind index (``blind_index``: HMAC-SHA256
under a separate key), which Redis keys and logs use too. The keys live outside the
database: in ``SAFECE_DATA_KEY`` or in a key file (``SAFECE_DATA_KEY_FILE``; in the
embedded mode ``var/data.key``, written on first use, mode 0600). Both hold lines

    index <base64 32 bytes>      the blind-index key (never rotated with the others)
    <key id> <base64 32 bytes>   data keys, the current one first; older ones still decrypt

(in the variable, the same entries separated by ``;``). ``python -m app rotate-key`` adds a
new current key, re-encrypts every row with it and drops the old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

INDEX = "index"


class Keys:
    """The index key and the data keys (current first) of one deployment."""

    def __init__(self, index: bytes, data: list[tuple[str, bytes]], source: Path | None) -> None:
        if len(index) != 32 or not data or any(len(k) != 32 for _, k in data):
            raise ValueError("data keys must be 32 bytes each, with an index key")
        self.index = index
        self.data = dict(data)
        self.current = data[0][0]
        self.source = source

    @classmethod
    def parse(cls, text: str, source: Path | None = None) -> Keys:
        index, data = b"", []
        for entry in text.replace(";", "\n").splitlines():
            if not entry.strip() or entry.lstrip().startswith("#"):
                continue
            name, value = entry.split()
            key = base64.b64decode(value)
            if name == INDEX:
                index = key
            else:
                data.append((name, key))
        return cls(index, data, source)

    def text(self) -> str:
        lines = [f"{INDEX} {base64.b64encode(self.index).decode()}"]
        lines += [f"{kid} {base64.b64encode(key).decode()}" for kid, key in self.data.items()]
        return "\n".join(lines) + "\n"


def new_key_id() -> str:
    return f"k{secrets.token_hex(4)}"


def write_key_file(path: Path, keys: Keys) -> None:
    """Write a key file readable by its owner only (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "# SafeCE personal-data keys: keep outside backups of the database.\n" + keys.text()
        )
    os.replace(temp, path)


def load(config) -> Keys:
    """The keys of a configuration; in the embedded mode a key file is made on first use."""
    if config.data_key:
        return Keys.parse(config.data_key)
    path = config.key_file
    if not path.exists():
        keys = Keys(secrets.token_bytes(32), [(new_key_id(), secrets.token_bytes(32))], path)
        write_key_file(path, keys)
    return Keys.parse(path.read_text(), path)


_keys: Keys | None = None


def install(config) -> Keys:
    """Use this configuration's keys in this process (build_services does it)."""
    global _keys
    _keys = load(config)
    return _keys


def keys() -> Keys:
    if _keys is None:
        raise RuntimeError("no personal-data keys installed (app.lib.crypto.install)")
    return _keys


def seal(text: str, keyring: Keys | None = None) -> str:
    """Encrypt under the current key: ``<key id>:<base64 nonce + ciphertext>``."""
    keyring = keyring or keys()
    nonce = secrets.token_bytes(12)
    kid = keyring.current
    sealed = AESGCM(keyring.data[kid]).encrypt(nonce, text.encode(), kid.encode())
    return f"{kid}:{base64.b64encode(nonce + sealed).decode()}"


def reveal(token: str, keyring: Keys | None = None) -> str:
    """Decrypt what ``seal`` made, under whichever key it names."""
    keyring = keyring or keys()
    kid, _, body = token.partition(":")
    if kid not in keyring.data and keyring.source is not None:
        keyring = install_from(keyring.source)  # rotated by another process: read again
    raw = base64.b64decode(body)
    return AESGCM(keyring.data[kid]).decrypt(raw[:12], raw[12:], kid.encode()).decode()


def install_from(path: Path) -> Keys:
    global _keys
    _keys = Keys.parse(path.read_text(), path)
    return _keys


def blind_index(text: str, keyring: Keys | None = None) -> str:
    """The look-up key of a value: equal values, equal indexes; the value stays hidden."""
    keyring = keyring or keys()
    return hmac.new(keyring.index, text.encode(), hashlib.sha256).hexdigest()
