"""`.env.<env>` files for the deploy commands: read into a mapping, never into `os.environ`.

Real environment variables win over the files, and the nearer file (the current folder) over the
repo root's, as python-dotenv's `override=False` would have it. The bucket name comes from here; the
AWS variables a file sets reach boto3 as explicit settings (`s3.s3_client(settings=...)`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import DeployError

log = logging.getLogger(__name__)

BUCKET_VARIABLE = "MODEL_BUCKET_NAME"
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class EnvSettings:
    """What a command sees: the environment over the `.env.<env>` files it read."""

    env: str
    files: tuple[Path, ...] = ()
    # What the files set that the environment does not: the only values boto3 would not find itself.
    # Not in the repr: both may hold credentials.
    from_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def get(self, name: str) -> str | None:
        return self.environ[name] if name in self.environ else self.from_files.get(name)

    def origin(self, name: str) -> str:
        """Where a variable's value came from, for messages that say what to fix."""
        if name in self.environ:
            return f"{name} in the environment"
        return f"{name} in {', '.join(str(path) for path in self.files)}"


def env_files(env: str, cwd: Path | None = None) -> list[Path]:
    """The `.env.<env>` files that exist, in the order they are read: the current folder, then the repo root."""
    if not _ENV_NAME.match(env):
        raise DeployError(f"bad environment name {env!r}: use letters, digits, '-', '_' or '.'")
    found: list[Path] = []
    for folder in (Path(cwd or Path.cwd()).resolve(), REPO_ROOT):
        path = folder / f".env.{env}"
        if path.is_file() and path not in found:
            found.append(path)
    return found


def load_env(env: str, cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> EnvSettings:
    """Read `.env.<env>` under `environ` (default: the process's environment), which wins; changes nothing."""
    from dotenv import dotenv_values

    environ = dict(os.environ if environ is None else environ)
    files = env_files(env, cwd)
    from_files: dict[str, str] = {}
    for path in reversed(files):  # the nearer file last, so that it wins
        from_files.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        log.debug("read %s", path)
    kept = {k: v for k, v in from_files.items() if k not in environ}
    return EnvSettings(env, tuple(files), MappingProxyType(kept), MappingProxyType(environ))


def bucket_name(explicit: str | None, settings: EnvSettings) -> str:
    """`explicit` (the --bucket flag), else $MODEL_BUCKET_NAME; a one-line error naming where we looked."""
    bucket = (explicit or settings.get(BUCKET_VARIABLE) or "").strip()
    if not bucket:
        env = settings.env
        where = (
            ", ".join(str(p) for p in settings.files)
            if settings.files
            else f"no .env.{env} found in the current folder or the repo root"
        )
        raise DeployError(
            f"{BUCKET_VARIABLE} is not set ({where}); set it in .env.{env}, in the environment, or pass --bucket"
        )
    return bucket
