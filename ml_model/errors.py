"""Errors a user can cause or meet; the CLI turns each into one line and a non-zero exit."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback."""

    exit_code = 2


class ConfigError(UserError):
    """The training configuration is invalid."""


class DataError(UserError):
    """MNIST could not be obtained or failed verification."""

    exit_code = 3


class ExportError(UserError):
    """An export folder is missing, incomplete or does not match its manifest."""

    exit_code = 4


class DeployError(UserError):
    """Uploading, listing or switching model versions in the bucket failed."""

    exit_code = 5


class BucketNotFound(DeployError):
    """The bucket does not exist (or belongs to another account); the CLI says where its name came from."""


class ServeError(UserError):
    """The local model server cannot start (no such folder, port taken)."""

    exit_code = 6


class TfjsImportError(UserError):
    """A TF.js layers model cannot be imported: unreadable, unsafe, or not expressible as our export."""

    exit_code = 7
