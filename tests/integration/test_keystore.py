"""The key store: secrets go in encrypted, come back only with the right key, and can be destroyed.

The local store is exercised on real files. The Vault stores run against a real Vault (or
OpenBao) server named by TEST_VAULT_ADDR / TEST_VAULT_TOKEN, e.g. `vault server -dev`; no
Debian or PyPI package ships one, so on machines without it those tests are skipped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import stat
import uuid
from pathlib import Path

import hvac
import pytest

from app.adapters.keystore import (
    MASTER_KEY_FILE,
    KeyStoreConfigError,
    KeyStoreError,
    LocalKeyStore,
    SecretNotFound,
    SecretUnreadable,
    VaultKvKeyStore,
    VaultTransitKeyStore,
    keystore_from_config,
    load_master_key_file,
)
from app.config import ConfigError
from app.core.dkim import generate_key

NAME = "dkim/ws-1/42/pm1"
VAULT_DEV_ADDR = "http://127.0.0.1:8200"  # choosing a store does not connect to it


@pytest.fixture(scope="module")
def private_pem() -> bytes:
    return generate_key().private_key_pem


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def store(tmp_path, master_key) -> LocalKeyStore:
    return LocalKeyStore(tmp_path / "keystore", master_key)


def blob_path(folder: Path, ref: str) -> Path:
    scheme, _, ident = ref.partition(":")
    return folder / f"{scheme}-{ident}.json"


def every_file_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Local store -----------------------------------------------------------------------------


def test_local_round_trip_returns_the_exact_secret(store, private_pem):
    ref = store.put(NAME, private_pem)
    assert re.fullmatch(r"local:[0-9a-f-]{36}", ref)
    assert store.get(ref) == private_pem
    assert store.get(store.put(NAME, b"\x00\xff binary")) == b"\x00\xff binary"


def test_every_put_gets_its_own_reference_and_data_key(store, tmp_path):
    first, second = store.put(NAME, b"same secret"), store.put(NAME, b"same secret")
    assert first != second
    blobs = [json.loads(blob_path(tmp_path / "keystore", ref).read_text())
             for ref in (first, second)]
    assert blobs[0]["wrapped_key"] != blobs[1]["wrapped_key"]
    assert blobs[0]["ciphertext"] != blobs[1]["ciphertext"]


def test_secrets_never_appear_in_clear_on_disk(store, tmp_path, private_pem, master_key):
    store.put(NAME, private_pem)
    body = b"".join(line for line in private_pem.splitlines() if b"-----" not in line)
    for path in every_file_under(tmp_path):
        content = path.read_bytes()
        assert private_pem not in content
        assert body[:64] not in content  # not even one line of the PEM
        assert base64.b64encode(private_pem) not in content
        assert base64.b64encode(master_key) not in content


def test_blob_files_are_private_and_no_temporary_file_is_left(store, tmp_path):
    ref = store.put(NAME, b"secret")
    folder = tmp_path / "keystore"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(blob_path(folder, ref).stat().st_mode) == 0o600
    assert [path.name for path in folder.iterdir()] == [blob_path(folder, ref).name]


def test_blob_records_the_name_and_master_key_id_for_rotation(store, tmp_path):
    ref = store.put(NAME, b"secret")
    blob = json.loads(blob_path(tmp_path / "keystore", ref).read_text())
    assert blob["name"] == NAME
    assert blob["key_id"] == store.key_id


def test_wrong_master_key_fails_with_a_clear_error(store, tmp_path):
    ref = store.put(NAME, b"secret")
    other = LocalKeyStore(tmp_path / "keystore", os.urandom(32))
    with pytest.raises(SecretUnreadable) as unreadable:
        other.get(ref)
    assert unreadable.value.code == "KEYSTORE_SECRET_UNREADABLE"
    assert "master key" in unreadable.value.message
    assert store.key_id in unreadable.value.message


def test_wrong_master_key_fails_even_if_the_key_id_is_forged(store, tmp_path):
    ref = store.put(NAME, b"secret")
    other = LocalKeyStore(tmp_path / "keystore", os.urandom(32))
    path = blob_path(tmp_path / "keystore", ref)
    blob = json.loads(path.read_text())
    path.write_text(json.dumps({**blob, "key_id": other.key_id}))
    with pytest.raises(SecretUnreadable, match="failed authentication"):
        other.get(ref)


@pytest.mark.parametrize("field", ["ciphertext", "wrapped_key"])
def test_tampered_blob_fails_authentication(store, tmp_path, field):
    ref = store.put(NAME, b"secret")
    path = blob_path(tmp_path / "keystore", ref)
    blob = json.loads(path.read_text())
    sealed = bytearray(base64.b64decode(blob[field]))
    sealed[-1] ^= 0x01
    path.write_text(json.dumps({**blob, field: base64.b64encode(bytes(sealed)).decode()}))
    with pytest.raises(SecretUnreadable, match="failed authentication"):
        store.get(ref)


def test_renamed_secret_fails_authentication(store, tmp_path):
    ref = store.put(NAME, b"secret")
    path = blob_path(tmp_path / "keystore", ref)
    blob = json.loads(path.read_text())
    path.write_text(json.dumps({**blob, "name": "dkim/ws-2/42/pm1"}))
    with pytest.raises(SecretUnreadable, match="failed authentication"):
        store.get(ref)


def test_blob_copied_over_another_reference_fails(store, tmp_path):
    # The attack AAD prevents: make domain A's reference yield domain B's private key.
    mine = store.put("dkim/ws-1/1/pm1", b"key of domain 1")
    theirs = store.put("dkim/ws-2/2/pm1", b"key of domain 2")
    folder = tmp_path / "keystore"
    blob_path(folder, mine).write_bytes(blob_path(folder, theirs).read_bytes())
    with pytest.raises(SecretUnreadable, match="another reference"):
        store.get(mine)
    assert store.get(theirs) == b"key of domain 2"


def test_damaged_blob_is_reported_not_crashed_on(store, tmp_path):
    ref = store.put(NAME, b"secret")
    blob_path(tmp_path / "keystore", ref).write_text("{not json")
    with pytest.raises(SecretUnreadable, match="damaged"):
        store.get(ref)


def test_destroy_removes_the_secret_for_good(store, tmp_path):
    ref = store.put(NAME, b"secret")
    kept = store.put("dkim/ws-1/42/pm2", b"other")
    store.destroy(ref)
    with pytest.raises(SecretNotFound):
        store.get(ref)
    assert not blob_path(tmp_path / "keystore", ref).exists()
    assert store.get(kept) == b"other"
    store.destroy(ref)  # idempotent: a retried job must not fail


def test_unknown_reference_is_not_found(store):
    with pytest.raises(SecretNotFound) as missing:
        store.get(f"local:{uuid.uuid4()}")
    assert missing.value.code == "KEYSTORE_SECRET_NOT_FOUND"


@pytest.mark.parametrize("ref", [
    "local:../../etc/passwd",
    "local:",
    "local:not-a-uuid",
    f"local:{str(uuid.uuid4()).upper()}",
    f"vault-kv:{NAME}",
    f"vault-transit:{uuid.uuid4()}",
    "secret",
])
def test_references_of_other_shapes_are_refused(store, ref):
    with pytest.raises(KeyStoreError) as refused:
        store.get(ref)
    assert refused.value.code == "KEYSTORE_BAD_REF"
    with pytest.raises(KeyStoreError):
        store.destroy(ref)


@pytest.mark.parametrize("name", ["", "/dkim/x", "dkim//x", "dkim/../x", "dkim/.x", "dkim/x/",
                                  "dkim/x y", "dkim/x\ny", "d" * 201])
def test_malformed_names_are_refused(store, name):
    with pytest.raises(KeyStoreError) as refused:
        store.put(name, b"secret")
    assert refused.value.code == "KEYSTORE_BAD_NAME"


def test_master_key_must_be_32_bytes(tmp_path):
    with pytest.raises(KeyStoreConfigError):
        LocalKeyStore(tmp_path, os.urandom(16))


# --- Configuration ---------------------------------------------------------------------------


def test_master_key_from_the_environment_is_used(tmp_path, master_key):
    config = {"INSTANCE_PATH": str(tmp_path),
              "KEYSTORE_MASTER_KEY": base64.b64encode(master_key).decode()}
    configured = keystore_from_config(config)
    ref = configured.put(NAME, b"secret")
    assert LocalKeyStore(tmp_path / "keystore", master_key).get(ref) == b"secret"
    assert not (tmp_path / MASTER_KEY_FILE).exists()


def test_master_key_file_is_created_once_with_mode_0600(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "ENV_NAME": "development"}
    first = keystore_from_config(config)
    key_file = tmp_path / "instance" / MASTER_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32
    ref = first.put(NAME, b"secret")
    assert keystore_from_config(config).get(ref) == b"secret"  # the file is reused, not replaced
    assert sorted(path.name for path in key_file.parent.iterdir()) == ["keystore", MASTER_KEY_FILE]


@pytest.mark.parametrize("value, words", [
    ("not base64!", "not valid base64"),
    (base64.b64encode(os.urandom(16)).decode(), "decodes to 16"),
    (base64.b64encode(os.urandom(33)).decode(), "decodes to 33"),
    (base64.urlsafe_b64encode(b"\xfb" * 32).decode(), "not valid base64"),
])
def test_malformed_keystore_master_key_stops_start_up(tmp_path, value, words):
    with pytest.raises(KeyStoreConfigError) as bad:
        keystore_from_config({"INSTANCE_PATH": str(tmp_path), "KEYSTORE_MASTER_KEY": value})
    assert isinstance(bad.value, ConfigError)  # start-up handles it like any bad setting
    assert "KEYSTORE_MASTER_KEY" in bad.value.message
    assert words in bad.value.message
    assert value not in bad.value.message


def test_malformed_master_key_file_names_the_file(tmp_path):
    (tmp_path / MASTER_KEY_FILE).write_text("short")
    with pytest.raises(KeyStoreConfigError, match=re.escape(str(tmp_path / MASTER_KEY_FILE))):
        keystore_from_config({"INSTANCE_PATH": str(tmp_path)})


def test_production_never_generates_a_master_key(tmp_path):
    with pytest.raises(KeyStoreConfigError, match="KEYSTORE_MASTER_KEY"):
        keystore_from_config({"INSTANCE_PATH": str(tmp_path), "ENV_NAME": "production"})
    assert not (tmp_path / MASTER_KEY_FILE).exists()


def test_loosely_permitted_key_file_is_warned_about(tmp_path, caplog, monkeypatch):
    # The session's `flask db upgrade` runs alembic's fileConfig(), which disables loggers
    # that already exist (disable_existing_loggers defaults to True); this one must speak.
    monkeypatch.setattr(logging.getLogger("app.adapters.keystore"), "disabled", False)
    key_file = tmp_path / MASTER_KEY_FILE
    key_file.write_text(base64.b64encode(os.urandom(32)).decode())
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="app.adapters.keystore"):
        load_master_key_file(key_file, create=False)
    assert "chmod 600" in caplog.text


def test_instance_path_is_required():
    with pytest.raises(KeyStoreConfigError, match="INSTANCE_PATH"):
        keystore_from_config({})


def test_vault_addr_selects_kv_v2_by_default(tmp_path):
    store = keystore_from_config({"INSTANCE_PATH": str(tmp_path), "VAULT_ADDR": VAULT_DEV_ADDR,
                                  "VAULT_TOKEN": "t"})
    assert isinstance(store, VaultKvKeyStore)
    assert store.mount == "secret"


def test_vault_transit_mode_keeps_ciphertext_under_the_instance_folder(tmp_path):
    store = keystore_from_config({"INSTANCE_PATH": str(tmp_path), "VAULT_ADDR": VAULT_DEV_ADDR,
                                  "VAULT_TOKEN": "t", "VAULT_MODE": "Transit",
                                  "VAULT_MOUNT": "pm-transit"})
    assert isinstance(store, VaultTransitKeyStore)
    assert (store.mount, store.key_name) == ("pm-transit", "penguinmails-dkim")


@pytest.mark.parametrize("config, words", [
    ({"VAULT_ADDR": VAULT_DEV_ADDR}, "VAULT_TOKEN must be set"),
    ({"VAULT_ADDR": VAULT_DEV_ADDR, "VAULT_TOKEN": "t", "VAULT_MODE": "kv1"}, "VAULT_MODE"),
])
def test_incomplete_vault_settings_stop_start_up(tmp_path, config, words):
    with pytest.raises(KeyStoreConfigError, match=words):
        keystore_from_config({"INSTANCE_PATH": str(tmp_path), **config})


def test_unreachable_vault_is_reported_as_unavailable(tmp_path):
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = keystore_from_config({"INSTANCE_PATH": str(tmp_path), "VAULT_ADDR": address,
                                  "VAULT_TOKEN": "t"})
    with pytest.raises(KeyStoreError) as unavailable:
        store.put(NAME, b"secret")
    assert unavailable.value.code == "KEYSTORE_UNAVAILABLE"
    assert address in unavailable.value.message
    assert "secret" not in unavailable.value.message.replace("secret/", "")


# --- Vault (real server only) ----------------------------------------------------------------

VAULT_ADDR = os.environ.get("TEST_VAULT_ADDR")
VAULT_TOKEN = os.environ.get("TEST_VAULT_TOKEN")
needs_vault = pytest.mark.skipif(
    not (VAULT_ADDR and VAULT_TOKEN),
    reason="no Vault server available on this machine (no Debian or PyPI package ships one); "
           "set TEST_VAULT_ADDR and TEST_VAULT_TOKEN to a `vault server -dev` to run")


@pytest.fixture
def vault_client() -> hvac.Client:
    client = hvac.Client(url=VAULT_ADDR, token=VAULT_TOKEN)
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "pm-test-kv/" not in mounts:
        client.sys.enable_secrets_engine("kv", path="pm-test-kv", options={"version": "2"})
    if "pm-test-transit/" not in mounts:
        client.sys.enable_secrets_engine("transit", path="pm-test-transit")
    return client


@needs_vault
def test_vault_kv_round_trip_and_destroy(vault_client, private_pem):
    store = VaultKvKeyStore(vault_client, mount="pm-test-kv")
    name = f"dkim/ws-test/{uuid.uuid4().hex}/pm1"
    ref = store.put(name, private_pem)
    assert ref == f"vault-kv:{name}"
    assert store.get(ref) == private_pem
    store.destroy(ref)
    with pytest.raises(SecretNotFound):
        store.get(ref)
    with pytest.raises(hvac.exceptions.InvalidPath):  # metadata and all versions are gone
        vault_client.secrets.kv.v2.read_secret_metadata(path=name, mount_point="pm-test-kv")
    store.destroy(ref)


@needs_vault
def test_vault_transit_round_trip_keeps_only_ciphertext_on_disk(vault_client, tmp_path,
                                                                private_pem):
    store = VaultTransitKeyStore(vault_client, tmp_path, mount="pm-test-transit")
    ref = store.put(NAME, private_pem)
    assert ref.startswith("vault-transit:")
    assert store.get(ref) == private_pem
    blob = json.loads(blob_path(tmp_path, ref).read_text())
    assert blob["ciphertext"].startswith("vault:v")
    for path in every_file_under(tmp_path):
        assert private_pem not in path.read_bytes()
    store.destroy(ref)
    with pytest.raises(SecretNotFound):
        store.get(ref)


@needs_vault
def test_vault_transit_blob_copied_over_another_reference_fails(vault_client, tmp_path):
    store = VaultTransitKeyStore(vault_client, tmp_path, mount="pm-test-transit")
    mine = store.put("dkim/ws-1/1/pm1", b"key of domain 1")
    theirs = store.put("dkim/ws-2/2/pm1", b"key of domain 2")
    blob_path(tmp_path, mine).write_bytes(blob_path(tmp_path, theirs).read_bytes())
    with pytest.raises(SecretUnreadable):
        store.get(mine)


@needs_vault
def test_vault_rejects_a_bad_token_with_a_clear_error():
    store = VaultKvKeyStore(hvac.Client(url=VAULT_ADDR, token="not-a-token"), mount="pm-test-kv")
    with pytest.raises(KeyStoreError) as refused:
        store.put(NAME, b"secret")
    assert refused.value.code == "KEYSTORE_FORBIDDEN"
