"""Where private keys live. The database keeps only the reference `put()` returns.

One small interface, picked once by `keystore_from_config()`:

* `LocalKeyStore` (default): envelope encryption, one file per secret under
  `instance/keystore/`. Each secret gets a fresh AES-256-GCM data key; the data key is
  encrypted ("wrapped") under the master key from `KEYSTORE_MASTER_KEY` or from
  `instance/keystore.key`, generated on first use outside production.
* `VaultKvKeyStore` (`VAULT_MODE=kv`): the secret is written to Vault's KV v2 engine.
* `VaultTransitKeyStore` (`VAULT_MODE=transit`): Vault's transit engine encrypts, the
  ciphertext is kept in the same local file layout; the key material never leaves Vault.

Every ciphertext is bound (AES-GCM associated data) to its reference and name, so a blob
copied over another reference's file fails to decrypt instead of yielding the wrong key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import hvac
import hvac.exceptions
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import ConfigError

log = logging.getLogger(__name__)

MASTER_KEY_FILE = "keystore.key"  # under the instance folder
BLOB_FOLDER = "keystore"  # under the instance folder
DEFAULT_TRANSIT_KEY = "penguinmails-dkim"
_FORMAT = 1
_NONCE_BYTES = 12  # 96-bit GCM nonces, fresh and random for every encryption
# Names look like dkim/<workspace_id>/<domain_id>/<selector>: no empty, hidden or ".." parts.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\Z")
_NAME_MAX = 200


class KeyStoreError(RuntimeError):
    """A key store failure with a stable `code` and a message that never contains a secret."""

    code = "KEYSTORE_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class SecretNotFound(KeyStoreError):
    code = "KEYSTORE_SECRET_NOT_FOUND"


class SecretUnreadable(KeyStoreError):
    """The stored secret exists but cannot be decrypted: wrong master key, tampered, swapped."""

    code = "KEYSTORE_SECRET_UNREADABLE"


class KeyStoreConfigError(KeyStoreError, ConfigError):
    code = "KEYSTORE_CONFIG"


class KeyStore(Protocol):
    def put(self, name: str, secret: bytes) -> str:
        """Store a secret; the returned reference is what the database keeps."""

    def get(self, ref: str) -> bytes:
        """The secret behind `ref`; `SecretNotFound` once destroyed."""

    def destroy(self, ref: str) -> None:
        """Irreversibly remove the secret. Destroying an absent reference is not an error."""


# --- Configuration ------------------------------------------------------------------------


def keystore_from_config(config: Mapping) -> KeyStore:
    """The store this installation uses: Vault when `VAULT_ADDR` is set, else local files."""
    instance = Path(_required(config, "INSTANCE_PATH"))
    blob_folder = instance / BLOB_FOLDER
    if config.get("VAULT_ADDR"):
        token = _required(config, "VAULT_TOKEN", why="when VAULT_ADDR is set")
        mode = str(config.get("VAULT_MODE") or "kv").strip().lower()
        if mode not in {"kv", "transit"}:
            raise KeyStoreConfigError(f"VAULT_MODE must be kv or transit, got {mode!r}")
        client = hvac.Client(url=config["VAULT_ADDR"], token=token)
        if mode == "kv":
            return VaultKvKeyStore(client, mount=config.get("VAULT_MOUNT") or "secret")
        return VaultTransitKeyStore(client, blob_folder,
                                    mount=config.get("VAULT_MOUNT") or "transit",
                                    key_name=config.get("VAULT_TRANSIT_KEY") or DEFAULT_TRANSIT_KEY)
    if config.get("KEYSTORE_MASTER_KEY"):
        master_key = parse_master_key(config["KEYSTORE_MASTER_KEY"], "KEYSTORE_MASTER_KEY")
    else:
        # Rule 15: outside dev and test a secret never silently falls back to a generated one.
        master_key = load_master_key_file(instance / MASTER_KEY_FILE,
                                          create=config.get("ENV_NAME") != "production")
    return LocalKeyStore(blob_folder, master_key)


def _required(config: Mapping, name: str, why: str = "") -> str:
    value = config.get(name)
    if not value:
        raise KeyStoreConfigError(f"{name} must be set{' ' + why if why else ''}")
    return str(value)


def parse_master_key(value: str, source: str) -> bytes:
    """A master key is 32 random bytes, base64-encoded; anything else stops start-up."""
    how = ("generate one with: python -c \"import base64, os; "
           "print(base64.b64encode(os.urandom(32)).decode())\"")
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyStoreConfigError(f"{source} is not valid base64; {how}") from None
    if len(key) != 32:
        raise KeyStoreConfigError(
            f"{source} must decode to 32 bytes (AES-256), it decodes to {len(key)}; {how}")
    return key


def load_master_key_file(path: Path, *, create: bool) -> bytes:
    """Read the master key file, creating it (mode 0600) on first use when `create`."""
    if not path.exists():
        if not create:
            raise KeyStoreConfigError(
                f"No key store master key: set KEYSTORE_MASTER_KEY or provision {path} "
                "(a new key is only generated outside production)")
        _create_master_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("key store master key file %s is readable by others (mode %o); "
                    "run chmod 600 on it", path, mode)
    return parse_master_key(path.read_text(), str(path))


def _create_master_key_file(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: a reader never sees a
    # half-written key, and when two processes start at once the first link wins for both.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    _write_private(temporary, base64.b64encode(secrets.token_bytes(32)) + b"\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    else:
        log.info("generated a new key store master key in %s", path)
    finally:
        temporary.unlink()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _check_name(name: str) -> str:
    if len(name) > _NAME_MAX or not _NAME.match(name):
        raise KeyStoreError(
            f"Secret name {name!r} is not valid: use '/'-separated parts of letters, digits, "
            f"'.', '_' or '-' (each starting with a letter or digit), "
            f"at most {_NAME_MAX} characters",
            code="KEYSTORE_BAD_NAME")
    return name


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- One file per secret ------------------------------------------------------------------


class _BlobFolder:
    """JSON documents, one per reference, written atomically and readable by the owner only."""

    def __init__(self, directory: Path, scheme: str) -> None:
        self.directory = directory
        self.scheme = scheme

    def new_ref(self) -> str:
        return f"{self.scheme}:{uuid.uuid4()}"

    def path_for(self, ref: str) -> Path:
        scheme, _, ident = ref.partition(":")
        try:
            parsed = uuid.UUID(ident)
        except ValueError:
            parsed = None
        if scheme != self.scheme or parsed is None or str(parsed) != ident:
            raise KeyStoreError(f"{ref!r} is not a reference of this key store ({self.scheme}:…)",
                                code="KEYSTORE_BAD_REF")
        return self.directory / f"{self.scheme}-{ident}.json"

    def write(self, ref: str, document: dict) -> None:
        path = self.path_for(ref)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            _write_private(temporary, json.dumps(document, sort_keys=True).encode("ascii"))
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        # The rename is durable only once the folder entry itself is on disk.
        folder = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def read(self, ref: str) -> dict:
        path = self.path_for(ref)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(f"No secret is stored under {ref}") from None
        try:
            document = json.loads(raw)
        except ValueError:
            raise SecretUnreadable(f"The stored blob of {ref} is damaged (not JSON)") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise SecretUnreadable(f"The stored blob of {ref} has an unknown format")
        return document

    def delete(self, ref: str) -> None:
        self.path_for(ref).unlink(missing_ok=True)


def _associated_data(ref: str, name: str, key_id: str = "") -> bytes:
    # Binds a ciphertext to where it belongs; names and refs cannot contain a newline.
    return f"penguinmails-keystore-v{_FORMAT}\n{ref}\n{name}\n{key_id}".encode("ascii")


def _field(document: dict, key: str, ref: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise SecretUnreadable(f"The stored blob of {ref} is damaged (no {key})")
    return value


def _b64_field(document: dict, key: str, ref: str) -> bytes:
    try:
        return base64.b64decode(_field(document, key, ref), validate=True)
    except binascii.Error:
        raise SecretUnreadable(
            f"The stored blob of {ref} is damaged ({key} is not base64)") from None


# --- Local envelope encryption ------------------------------------------------------------


class LocalKeyStore:
    """AES-256-GCM envelope encryption into files; references look like `local:<uuid>`.

    Destroying deletes the file, and with it the only copy of the secret's wrapped data key.
    Copies of the folder made earlier (backups) stay readable with the master key, so
    retiring a master key means re-wrapping the data keys: each blob records its key id.
    """

    scheme = "local"

    def __init__(self, directory: Path, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise KeyStoreConfigError("The key store master key must be 32 bytes (AES-256)")
        self._master = AESGCM(master_key)
        # Identifies the master key without revealing it, so a blob says which key it needs.
        self.key_id = hashlib.sha256(b"penguinmails keystore key id\0" + master_key
                                     ).hexdigest()[:16]
        self._blobs = _BlobFolder(directory, self.scheme)

    def put(self, name: str, secret: bytes) -> str:
        _check_name(name)
        ref = self._blobs.new_ref()
        aad = _associated_data(ref, name, self.key_id)
        data_key = AESGCM.generate_key(bit_length=256)
        self._blobs.write(ref, {
            "format": _FORMAT,
            "cipher": "AES-256-GCM envelope",
            "name": name,
            "key_id": self.key_id,
            "wrapped_key": _b64(_seal(self._master, data_key, aad)),
            "ciphertext": _b64(_seal(AESGCM(data_key), secret, aad)),
        })
        return ref

    def get(self, ref: str) -> bytes:
        document = self._blobs.read(ref)
        name = _field(document, "name", ref)
        key_id = _field(document, "key_id", ref)
        if key_id != self.key_id:
            raise SecretUnreadable(
                f"{ref} was encrypted under master key {key_id}, but this key store has master "
                f"key {self.key_id}: KEYSTORE_MASTER_KEY (or instance/{MASTER_KEY_FILE}) is not "
                "the one the secret was stored with")
        aad = _associated_data(ref, name, key_id)
        try:
            data_key = _open(self._master, _b64_field(document, "wrapped_key", ref), aad)
            return _open(AESGCM(data_key), _b64_field(document, "ciphertext", ref), aad)
        except (InvalidTag, ValueError):
            raise SecretUnreadable(
                f"The stored blob of {ref} failed authentication: it was modified, or it belongs "
                "to another reference") from None

    def destroy(self, ref: str) -> None:
        self._blobs.delete(ref)


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)


# --- HashiCorp Vault ----------------------------------------------------------------------


@contextmanager
def _vault_errors(client: hvac.Client, what: str) -> Iterator[None]:
    """Turns hvac/requests failures into key store errors that say what to check."""
    try:
        yield
    except hvac.exceptions.Forbidden:
        raise KeyStoreError(f"Vault refused {what}: check that VAULT_TOKEN is valid and that "
                            "its policy allows this path", code="KEYSTORE_FORBIDDEN") from None
    except (hvac.exceptions.VaultError, requests.RequestException) as error:
        raise KeyStoreError(f"Vault at {client.url} failed {what}: {error}",
                            code="KEYSTORE_UNAVAILABLE") from None


class VaultKvKeyStore:
    """Secrets in Vault's KV v2 engine at `<mount>/<name>`; references look like `vault-kv:<name>`.

    A name holds one secret: putting the same name again writes a new version under the same
    reference. Destroying deletes every version and the metadata.
    """

    scheme = "vault-kv"

    def __init__(self, client: hvac.Client, *, mount: str = "secret") -> None:
        self.client = client
        self.mount = mount

    def put(self, name: str, secret: bytes) -> str:
        _check_name(name)
        with _vault_errors(self.client, f"writing {self.mount}/{name}"):
            self.client.secrets.kv.v2.create_or_update_secret(
                path=name, secret={"secret": _b64(secret)}, mount_point=self.mount)
        return f"{self.scheme}:{name}"

    def get(self, ref: str) -> bytes:
        name = self._name(ref)
        with _vault_errors(self.client, f"reading {self.mount}/{name}"):
            try:
                response = self.client.secrets.kv.v2.read_secret_version(
                    path=name, mount_point=self.mount, raise_on_deleted_version=True)
            except hvac.exceptions.InvalidPath:
                raise SecretNotFound(f"No secret is stored under {ref}") from None
        try:
            return base64.b64decode(response["data"]["data"]["secret"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise SecretUnreadable(
                f"{self.mount}/{name} does not hold a key store secret") from None

    def destroy(self, ref: str) -> None:
        name = self._name(ref)
        with _vault_errors(self.client, f"deleting {self.mount}/{name}"):
            self.client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=name, mount_point=self.mount)

    def _name(self, ref: str) -> str:
        scheme, _, name = ref.partition(":")
        if scheme != self.scheme or not _NAME.match(name):
            raise KeyStoreError(f"{ref!r} is not a reference of this key store ({self.scheme}:…)",
                                code="KEYSTORE_BAD_REF")
        return name


class VaultTransitKeyStore:
    """Vault's transit engine encrypts; the ciphertext is kept in local files.

    References look like `vault-transit:<uuid>`. The associated data binding needs an AEAD
    transit key (the default aes256-gcm96) and Vault 1.13 or later. The transit key is created
    by the first encryption if the token's policy allows it; otherwise create it beforehand
    (`vault write -f transit/keys/penguinmails-dkim`).
    """

    scheme = "vault-transit"

    def __init__(self, client: hvac.Client, directory: Path, *, mount: str = "transit",
                 key_name: str = DEFAULT_TRANSIT_KEY) -> None:
        self.client = client
        self.mount = mount
        self.key_name = key_name
        self._blobs = _BlobFolder(directory, self.scheme)

    def put(self, name: str, secret: bytes) -> str:
        _check_name(name)
        ref = self._blobs.new_ref()
        with _vault_errors(self.client, f"encrypting with {self.mount}/keys/{self.key_name}"):
            response = self.client.secrets.transit.encrypt_data(
                name=self.key_name, plaintext=_b64(secret), mount_point=self.mount,
                associated_data=_b64(_associated_data(ref, name)))
        self._blobs.write(ref, {
            "format": _FORMAT,
            "cipher": "vault transit",
            "name": name,
            "transit_key": self.key_name,
            "ciphertext": response["data"]["ciphertext"],
        })
        return ref

    def get(self, ref: str) -> bytes:
        document = self._blobs.read(ref)
        name = _field(document, "name", ref)
        with _vault_errors(self.client, f"decrypting {ref}"):
            try:
                response = self.client.secrets.transit.decrypt_data(
                    name=_field(document, "transit_key", ref),
                    ciphertext=_field(document, "ciphertext", ref), mount_point=self.mount,
                    associated_data=_b64(_associated_data(ref, name)))
            except hvac.exceptions.InvalidRequest as error:
                raise SecretUnreadable(
                    f"Vault could not decrypt {ref}: the blob was modified, belongs to another "
                    f"reference, or the transit key changed ({error})") from None
        return base64.b64decode(response["data"]["plaintext"])

    def destroy(self, ref: str) -> None:
        self._blobs.delete(ref)
