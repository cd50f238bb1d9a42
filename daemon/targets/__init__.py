"""Mirror targets: where the AIPs go (an S3 bucket prefix or a local folder).

Owns: ``open_target``, the one place that turns a ``[target]`` table into a ``Target``.
Must not: decide what to upload (``daemon.sync.mirror`` does) or import boto3 unless the target
is ``s3://`` (a folder target works without it being configured).
"""

from __future__ import annotations

from daemon.core.config import TargetConfig
from daemon.core.journal import UploadJournal
from daemon.targets.base import PutResult, RemoteObject, RemoteVersion, Target

__all__ = ["PutResult", "RemoteObject", "RemoteVersion", "Target", "UploadJournal",
           "open_target"]


def open_target(config: TargetConfig) -> Target:
    """The target ``config.url`` names.

    Args:
        config: the ``[target]`` table.

    Returns:
        An ``S3Target`` for ``s3://``, a ``FolderTarget`` for ``file://``.

    Raises:
        TargetPermanentError: the S3 client cannot be built (e.g. unknown profile).
    """
    # Each target is imported only when configured: the S3 one pulls in boto3 (about half a
    # second), which a folder target never needs.
    if config.scheme == "s3":
        from daemon.targets.s3 import S3Target

        return S3Target(config)
    from daemon.targets.folder import FolderTarget

    return FolderTarget(config.folder, multipart_threshold=config.multipart_threshold,
                        multipart_chunksize=config.multipart_chunksize,
                        bandwidth_limit=config.bandwidth_limit,
                        display_url=config.display_url)
