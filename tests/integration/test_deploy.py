"""Deploy, versions and rollback against a real S3 endpoint: moto in server mode over loopback HTTP.

No boto3 call is patched: requests travel as HTTP to moto, or through a proxy that fails on purpose.
The S3 `client` and a fresh `bucket` come from conftest.py; the trained export's round trip is
tests/slow/test_deploy.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from api.runtime.manifest import MANIFEST_NAME, parse_manifest
from ml_model.deploy import IMMUTABLE_CACHE_CONTROL, deploy, plan_deploy
from ml_model.env import bucket_name, env_files, load_env
from ml_model.errors import DeployError, ExportError
from ml_model.latest import LATEST_CACHE_CONTROL, LATEST_KEY
from ml_model.s3 import s3_client
from ml_model.versions import list_versions, rollback
from tests.support.fake_exports import corrupt, make_fake_export
from tests.support.loopback import DUMMY_AWS, ctrl_c_reaches_the_child, free_port
from tests.support.s3_support import FaultyProxy, fast_client, load_latest

REPO = Path(__file__).resolve().parents[2]
V1, V2, V3 = "2026-11-26T10-00-00Z", "2026-11-26T11-00-00Z", "2026-11-26T12-00-00Z"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three distinct fake exports, one per version."""
    root = tmp_path_factory.mktemp("exports")
    return {
        v: make_fake_export(root, f"model-{i}", v, seed=i, accuracy=0.9 + i / 100)
        for i, v in enumerate((V1, V2, V3), start=1)
    }


def latest_bytes(client: Any, bucket: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


def keys(client: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


# --- deploy -------------------------------------------------------------------------------------


def test_deploy_uploads_verifies_and_switches_latest(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    result = deploy(exports[V1], bucket, client=client)

    manifest = parse_manifest((exports[V1] / MANIFEST_NAME).read_bytes())
    expected = {f"{V1}/{a.path}" for a in manifest.artifacts.values()} | {f"{V1}/{MANIFEST_NAME}", LATEST_KEY}
    assert keys(client, bucket) == expected
    assert set(result.uploaded) == expected - {LATEST_KEY} and result.previous is None
    # The version's manifest is uploaded byte for byte; latest names the version's files.
    assert (
        client.get_object(Bucket=bucket, Key=f"{V1}/{MANIFEST_NAME}")["Body"].read()
        == (exports[V1] / MANIFEST_NAME).read_bytes()
    )
    latest = json.loads(latest_bytes(client, bucket) or b"")
    assert {a["path"] for a in latest["artifacts"].values()} == {
        f"../{V1}/{a.path}" for a in manifest.artifacts.values()
    }
    assert latest["version"] == V1 and latest["deployment"]["previous"] is None
    loaded = load_latest(client, bucket)
    for key, artifact in manifest.artifacts.items():
        assert loaded.files[key] == (exports[V1] / artifact.path).read_bytes()
        head = client.head_object(Bucket=bucket, Key=f"{V1}/{artifact.path}", ChecksumMode="ENABLED")
        assert head["ContentType"] == artifact.content_type
        assert head["CacheControl"] == IMMUTABLE_CACHE_CONTROL
        assert head["Metadata"]["sha256"] == artifact.sha256
        assert head.get("ChecksumSHA256"), "the S3 SHA-256 checksum was not stored"
    head = client.head_object(Bucket=bucket, Key=LATEST_KEY)
    assert head["ContentType"] == "application/json" and head["CacheControl"] == LATEST_CACHE_CONTROL
    # Private unless asked: nobody but the owner is granted anything.
    grants = client.get_object_acl(Bucket=bucket, Key=LATEST_KEY)["Grants"]
    assert all(g["Grantee"].get("URI") != ALL_USERS for g in grants)


def test_redeploy_is_harmless_and_repairs_a_missing_object(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    assert deploy(exports[V1], bucket, client=client).switched
    first_latest = latest_bytes(client, bucket)
    again = deploy(exports[V1], bucket, client=client)
    assert again.uploaded == () and len(again.already_there) == len(again.objects)
    assert again.previous == V1 and not again.switched
    assert latest_bytes(client, bucket) == first_latest  # not even rewritten

    client.delete_object(Bucket=bucket, Key=f"{V1}/model.tflite")
    repaired = deploy(exports[V1], bucket, client=client)
    assert repaired.uploaded == (f"{V1}/model.tflite",)
    assert load_latest(client, bucket).files["tflite"] == (exports[V1] / "model.tflite").read_bytes()


def test_a_version_is_immutable(client: Any, bucket: str, exports: dict[str, Path], tmp_path: Path) -> None:
    deploy(exports[V1], bucket, client=client)
    before = latest_bytes(client, bucket)
    impostor = make_fake_export(tmp_path, "impostor", V1, seed=99)
    with pytest.raises(DeployError, match="immutable") as info:
        deploy(impostor, bucket, client=client)
    assert f"still serves {V1}" in str(info.value)
    assert latest_bytes(client, bucket) == before
    assert load_latest(client, bucket).files["tflite"] == (exports[V1] / "model.tflite").read_bytes()


def test_public_read_grants_everyone_read(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    deploy(exports[V1], bucket, client=client, public_read=True)
    for key in keys(client, bucket):
        grants = client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
        assert any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants), key


def test_a_refused_public_read_says_why(moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]) -> None:
    with FaultyProxy(moto_endpoint, mode="403", fail_at=0) as proxy:  # as Block Public Access answers
        with pytest.raises(DeployError, match="Block Public Access") as info:
            deploy(exports[V1], bucket, client=fast_client(proxy.url), public_read=True)
    assert "was not created" in str(info.value) and latest_bytes(client, bucket) is None


def test_dry_run_needs_no_store_and_changes_nothing(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    result = deploy(exports[V2], bucket, dry_run=True)  # no client: it must not need one
    assert result.dry_run and result.version == V2 and result.uploaded == ()
    assert [o.key for o in result.objects][-1] == f"{V2}/{MANIFEST_NAME}"  # the version's marker goes last
    assert keys(client, bucket) == set()


@pytest.mark.parametrize("damage", ["missing export", "not a folder", "checksum", "size", "escaping path"])
def test_a_bad_export_is_refused_before_any_upload(damage: str, tmp_path: Path) -> None:
    folder = make_fake_export(tmp_path, "bad", V1, link_latest=False)
    if damage == "missing export":
        folder = tmp_path / "nowhere"
    elif damage == "not a folder":
        folder = folder / MANIFEST_NAME
    elif damage == "checksum":
        corrupt(folder / "model.tflite")
    elif damage == "size":
        with (folder / "history.png").open("ab") as f:
            f.write(b"x")
    else:
        raw = json.loads((folder / MANIFEST_NAME).read_text())
        raw["artifacts"]["curves"]["path"] = "sub/../../history.png"
        (folder / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(ExportError):
        plan_deploy(folder)


# --- versions and rollback ----------------------------------------------------------------------


def test_versions_lists_every_version_and_marks_latest(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    assert list_versions(bucket, client=client) == []
    deploy(exports[V1], bucket, client=client)
    deploy(exports[V2], bucket, client=client)
    # An upload that died before its manifest: listed, but not servable.
    client.put_object(Bucket=bucket, Key=f"{V3}/model.tflite", Body=b"partial")

    versions = list_versions(bucket, client=client)
    assert [v.version for v in versions] == [V1, V2, V3]
    v1, v2, v3 = versions
    assert (v1.latest, v2.latest, v3.latest) == (False, True, False)
    assert v1.complete and v2.complete and not v3.complete and "model.json" in (v3.problem or "")
    assert v1.test_accuracy == pytest.approx(0.91) and v2.test_accuracy == pytest.approx(0.92)
    assert v1.created == "2026-11-26T10:00:00Z" and v1.bytes > 90_000


def test_rollback_switches_latest_to_a_verified_version(client: Any, bucket: str, exports: dict[str, Path]) -> None:
    for version in (V1, V2, V3):
        deploy(exports[version], bucket, client=client)

    back = rollback(bucket, client=client)  # default: the version before the current one
    assert (back.version, back.previous, back.changed) == (V2, V3, True)
    assert load_latest(client, bucket).manifest.version == V2

    named = rollback(bucket, V1, client=client)
    assert (named.version, named.previous) == (V1, V2)
    loaded = load_latest(client, bucket)
    assert loaded.files["tflite"] == (exports[V1] / "model.tflite").read_bytes()
    assert json.loads(latest_bytes(client, bucket) or b"")["deployment"]["action"] == "rollback"

    same = rollback(bucket, V1, client=client)
    assert not same.changed and load_latest(client, bucket).manifest.version == V1
    with pytest.raises(DeployError, match="no complete version older"):
        rollback(bucket, client=client)


@pytest.mark.parametrize("damage", ["replaced", "deleted", "unknown version", "bad version name"])
def test_rollback_refuses_a_missing_or_damaged_version(
    damage: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    deploy(exports[V1], bucket, client=client)
    deploy(exports[V2], bucket, client=client)
    before = latest_bytes(client, bucket)
    target = V1
    if damage == "replaced":  # same size, other bytes, put behind deploy's back
        data = bytearray((exports[V1] / "model.tflite").read_bytes())
        data[0] ^= 0xFF
        client.put_object(Bucket=bucket, Key=f"{V1}/model.tflite", Body=bytes(data))
    elif damage == "deleted":
        client.delete_object(Bucket=bucket, Key=f"{V1}/saved_model.tar.gz")
    elif damage == "unknown version":
        target = "2020-01-01T00-00-00Z"
    else:
        target = "../etc"
    with pytest.raises(DeployError) as info:
        rollback(bucket, target, client=client)
    message = str(info.value)
    assert "\n" not in message
    if damage != "bad version name":
        assert f"still serves {V2}" in message
    if damage == "unknown version":
        assert V1 in message and V2 in message  # says what is there
    assert latest_bytes(client, bucket) == before


# --- failures partway through a deploy ----------------------------------------------------------

# A deploy of one fake export makes 6 PUTs: 4 artifacts, the version's model.json, then latest/model.json.
FIRST_ARTIFACT, VERSION_MANIFEST, LATEST_SWITCH = 0, 4, 5


@pytest.mark.parametrize("fail_at", [FIRST_ARTIFACT, 2, VERSION_MANIFEST, LATEST_SWITCH])
@pytest.mark.parametrize("mode", ["500", "403", "drop", "die"])
def test_a_failing_endpoint_leaves_latest_as_it_was(
    mode: str, fail_at: int, moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    deploy(exports[V1], bucket, client=client)
    before = latest_bytes(client, bucket)
    with FaultyProxy(moto_endpoint, mode=mode, fail_at=fail_at) as proxy:
        with pytest.raises(DeployError) as info:
            deploy(exports[V2], bucket, client=fast_client(proxy.url))
    message = str(info.value)
    assert "\n" not in message and message
    assert V1 in message  # tells the user what latest still serves (or may serve)
    assert latest_bytes(client, bucket) == before
    assert load_latest(client, bucket).manifest.version == V1  # still loadable, every file intact
    # A later deploy through a healthy endpoint completes what the failed one started.
    deploy(exports[V2], bucket, client=client)
    assert load_latest(client, bucket).manifest.version == V2


def test_a_lost_answer_to_the_switch_leaves_one_complete_version(
    moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    deploy(exports[V1], bucket, client=client)
    with FaultyProxy(moto_endpoint, mode="lost", fail_at=LATEST_SWITCH) as proxy:
        with pytest.raises(DeployError, match="run the command again") as info:
            deploy(exports[V2], bucket, client=fast_client(proxy.url))
    assert V1 in str(info.value) and V2 in str(info.value)
    assert load_latest(client, bucket).manifest.version == V2  # it landed; complete all the same


def test_a_retried_switch_recognises_its_own_write(
    moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    """The answer to the switch is lost and boto3 retries it: the retry's failed condition is our own doing."""
    deploy(exports[V1], bucket, client=client)
    with FaultyProxy(moto_endpoint, mode="lost", fail_at=LATEST_SWITCH) as proxy:
        result = deploy(exports[V2], bucket, client=s3_client(proxy.url, max_attempts=2, read_timeout=5))
    assert proxy.puts == LATEST_SWITCH + 2  # the switch went out twice
    assert result.switched and load_latest(client, bucket).manifest.version == V2


def test_a_rival_switch_during_a_deploy_is_not_overwritten(
    moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    """Two operators at once: the one who switches latest first wins; the other is told, not obeyed."""
    deploy(exports[V1], bucket, client=client)

    def rival(put_number: int) -> None:
        if put_number == 0:  # while our deploy of V2 uploads its first file
            deploy(exports[V3], bucket, client=client)

    with FaultyProxy(moto_endpoint, on_put=rival) as proxy:
        with pytest.raises(DeployError, match="changed while this command ran"):
            deploy(exports[V2], bucket, client=fast_client(proxy.url))
    assert load_latest(client, bucket).manifest.version == V3
    # V2 was uploaded and verified all the same: switching to it now needs no upload.
    assert rollback(bucket, V2, client=client).changed
    assert load_latest(client, bucket).manifest.version == V2


def test_readers_never_see_a_mix_of_versions(
    moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path]
) -> None:
    """Deploys and rollbacks run (slowed down) while a reader loads latest over and over."""
    deploy(exports[V1], bucket, client=client)
    expected = {
        v: {
            k: (folder / a.path).read_bytes()
            for k, a in parse_manifest((folder / MANIFEST_NAME).read_bytes()).artifacts.items()
        }
        for v, folder in exports.items()
    }
    done = threading.Event()
    failures: list[BaseException] = []

    def switch() -> None:
        try:
            with FaultyProxy(moto_endpoint, delay=0.02) as slow:
                writer = fast_client(slow.url)
                deploy(exports[V2], bucket, client=writer)
                rollback(bucket, V1, client=writer)
                deploy(exports[V3], bucket, client=writer)
                rollback(bucket, V2, client=writer)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread, whatever it is
            failures.append(exc)
        finally:
            done.set()

    seen: list[str] = []
    reader = fast_client(moto_endpoint)
    thread = threading.Thread(target=switch)
    thread.start()
    while not done.is_set():
        loaded = load_latest(reader, bucket)  # asserts each file against the manifest it came with
        version = loaded.manifest.version
        assert all(key.startswith(f"{version}/") for key in loaded.keys.values()), loaded.keys
        assert loaded.files == expected[version], f"latest names {version} but served other bytes"
        seen.append(version)
    thread.join()
    assert not failures, failures
    assert load_latest(reader, bucket).manifest.version == V2
    assert len(seen) >= 5 and {V1, V2} <= set(seen), seen


# --- configuration ------------------------------------------------------------------------------


def test_env_files_are_read_and_real_variables_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.staging").write_text("MODEL_BUCKET_NAME=from-file\nMODEL_URL=s3://from-file/latest/model.json\n")
    for name in ("MODEL_BUCKET_NAME", "MODEL_URL"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    settings = load_env("staging")
    assert settings.files == (tmp_path / ".env.staging",)
    assert env_files("staging") == [tmp_path / ".env.staging"]
    assert bucket_name(None, settings) == "from-file"
    assert bucket_name("flag-wins", settings) == "flag-wins"
    assert settings.origin("MODEL_BUCKET_NAME") == f"MODEL_BUCKET_NAME in {tmp_path / '.env.staging'}"
    assert dict(os.environ) == before  # read into the settings, never into the process's environment

    monkeypatch.setenv("MODEL_BUCKET_NAME", "from-environment")
    settings = load_env("staging")
    assert bucket_name(None, settings) == "from-environment"
    assert settings.origin("MODEL_BUCKET_NAME") == "MODEL_BUCKET_NAME in the environment"
    assert "MODEL_BUCKET_NAME" not in settings.from_files and settings.from_files["MODEL_URL"].startswith("s3://")
    # The nearer file wins over the repo root's, and the repo's own files are found from anywhere.
    (tmp_path / ".env.production").write_text("MODEL_BUCKET_NAME=nearer\n")
    monkeypatch.delenv("MODEL_BUCKET_NAME")
    assert env_files("production") == [tmp_path / ".env.production", REPO / ".env.production"]
    assert bucket_name(None, load_env("production")) == "nearer"
    with pytest.raises(DeployError, match="bad environment name"):
        env_files("../secrets")


def test_aws_settings_from_an_env_file_reach_the_client(
    moto_endpoint: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials and the endpoint set only in `.env.<env>` are passed to boto3, not put in os.environ."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))  # no ~/.aws credentials either
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    lines = [f"{k}={v}" for k, v in DUMMY_AWS.items()] + [f"AWS_ENDPOINT_URL={moto_endpoint}"]
    (tmp_path / ".env.moto").write_text("\n".join(lines) + "\n")
    settings = load_env("moto", cwd=tmp_path)
    client = s3_client(settings=settings.from_files, max_attempts=1, connect_timeout=2)
    assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert not any(
        n.startswith("AWS_") for n in os.environ if n not in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")
    )


# --- the command line: one line and a non-zero exit for every failure a user can cause ----------


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_model", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def cli_env(moto_endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MODEL_BUCKET_NAME"}
    env.update(DUMMY_AWS, AWS_ENDPOINT_URL=moto_endpoint, AWS_MAX_ATTEMPTS="1", PYTHONPATH=str(REPO))
    return env


def test_cli_deploy_versions_rollback(
    cli_env: dict[str, str], bucket: str, exports: dict[str, Path], tmp_path: Path, client: Any
) -> None:
    (tmp_path / ".env.production").write_text(f"MODEL_BUCKET_NAME={bucket}\n")
    dry = run_cli("deploy", "--export", str(exports[V1]), "--dry-run", env=cli_env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"{V1}/model.tflite" in dry.stdout and keys(client, bucket) == set()

    for version in (V1, V2):
        done = run_cli("deploy", "--export", str(exports[version]), env=cli_env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"now serves {version}" in done.stdout and f"MODEL_URL=s3://{bucket}/latest/model.json" in done.stdout
        assert "now serves" not in done.stderr  # said once: a terminal shows stdout and stderr together

    listed = run_cli("versions", env=cli_env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if V1 in line or V2 in line]
    assert len(rows) == 2 and rows[1].startswith("*") and "latest" in rows[1] and "0.9100" in rows[0]
    # The documented example (docs/deploying.md) has this very layout: same header, SIZE and STATUS in the same columns.
    readme = (REPO / "docs" / "deploying.md").read_text(encoding="utf-8")
    example = readme[readme.index("$ python -m ml_model versions\n") :].splitlines()[1:4]
    header = listed.stdout.splitlines()[0]
    assert example[0] == header
    size_end = header.index("SIZE") + len("SIZE")
    for row in example[1:] + rows:
        assert re.fullmatch(r"\d+(\.\d)? (B|kB|MB|GB)", row[size_end - 9 : size_end].strip()), row
    as_json = json.loads(run_cli("versions", "--json", env=cli_env, cwd=tmp_path).stdout)
    assert [(v["version"], v["latest"]) for v in as_json] == [(V1, False), (V2, True)]

    back = run_cli("rollback", V1, env=cli_env, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert f"now serves {V1} (was {V2})" in back.stdout and "now serves" not in back.stderr
    assert load_latest(client, bucket).manifest.version == V1


def test_ctrl_c_during_a_deploy_leaves_latest_as_it_was(
    cli_env: dict[str, str], moto_endpoint: str, client: Any, bucket: str, exports: dict[str, Path], tmp_path: Path
) -> None:
    deploy(exports[V1], bucket, client=client)
    before = latest_bytes(client, bucket)
    with FaultyProxy(moto_endpoint, delay=0.2) as slow:
        env = {**cli_env, "AWS_ENDPOINT_URL": slow.url}
        process = subprocess.Popen(
            [sys.executable, "-m", "ml_model", "deploy", "--export", str(exports[V2]), "--bucket", bucket],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_the_child,
        )
        try:
            deadline = time.monotonic() + 30
            while slow.puts < 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            assert slow.puts >= 2 and process.poll() is None, "the deploy did not get under way"
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert latest_bytes(client, bucket) == before
    assert load_latest(client, bucket).manifest.version == V1
    # Running it again finishes the job.
    assert deploy(exports[V2], bucket, client=client).switched


CLI_FAILURES = {
    # case: (arguments, extra environment, words the message must hold, exit code)
    "no bucket variable": (["deploy", "--env", "nosuchenv"], {}, "MODEL_BUCKET_NAME is not set", 5),
    "no such export": (
        ["deploy", "--export", "{tmp}/nothing-here"],
        {"MODEL_BUCKET_NAME": "{bucket}"},
        "no export at",
        4,
    ),
    "checksum mismatch": (
        ["deploy", "--export", "{bad}"],
        {"MODEL_BUCKET_NAME": "{bucket}"},
        "does not match model.json",
        4,
    ),
    "bucket missing": (
        ["deploy", "--export", "{good}", "--bucket", "no-such-bucket-here"],
        {},
        "does not exist (or is in another account); create it, or fix --bucket",
        5,
    ),
    "versions of a missing bucket": (
        ["versions", "--bucket", "no-such-bucket-here"],
        {"MODEL_BUCKET_NAME": "{bucket}"},
        "bucket no-such-bucket-here does not exist (or is in another account); create it, or fix --bucket",
        5,
    ),
    "missing bucket from the environment": (
        ["versions"],
        {"MODEL_BUCKET_NAME": "no-such-bucket-here"},
        "create it, or fix MODEL_BUCKET_NAME in the environment",
        5,
    ),
    "access denied": (
        ["deploy", "--export", "{good}", "--bucket", "{bucket}", "--endpoint-url", "{deny}"],
        {},
        "access denied",
        5,
    ),
    "endpoint unreachable": (
        ["versions", "--bucket", "{bucket}"],
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:{closed}"},
        "cannot reach the S3 endpoint",
        5,
    ),
    "no credentials": (
        ["versions", "--bucket", "{bucket}"],
        {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "HOME": "{tmp}"},
        "no usable AWS credentials",
        5,
    ),
    "unknown version": (["rollback", "1999-01-01T00-00-00Z", "--bucket", "{bucket}"], {}, "is not in", 5),
    "bad environment name": (["versions", "--env", "../x"], {}, "bad environment name", 5),
}


@pytest.mark.parametrize("case", list(CLI_FAILURES))
def test_cli_failures_are_one_line_without_traceback(
    case: str,
    cli_env: dict[str, str],
    bucket: str,
    moto_endpoint: str,
    client: Any,
    tmp_path: Path,
    exports: dict[str, Path],
) -> None:
    deploy(exports[V1], bucket, client=client)
    before = latest_bytes(client, bucket)
    bad = make_fake_export(tmp_path, "bad", V2, link_latest=False)
    corrupt(bad / "saved_model.tar.gz")
    args, extra, words, code = CLI_FAILURES[case]
    with FaultyProxy(moto_endpoint, mode="403") as deny:
        values = {
            "tmp": str(tmp_path),
            "bucket": bucket,
            "bad": str(bad),
            "good": str(exports[V2]),
            "deny": deny.url,
            "closed": str(free_port()),
        }
        env = {**cli_env, **{k: v.format(**values) for k, v in extra.items()}}
        env = {k: v for k, v in env.items() if v != ""}
        done = run_cli(*(a.format(**values) for a in args), env=env, cwd=tmp_path)
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr
    assert latest_bytes(client, bucket) == before
