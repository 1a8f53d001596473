"""Files: writing one so that it holds either its old bytes or all of the new ones, whatever happens; checksums."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file beside ``target`` (flushed to disk), then rename it
    over ``target``. On any error (Ctrl-C included) the temporary file is removed and ``target`` is
    left as it was. The temporary name is ``video.writer.temporary_path``'s, which later runs
    recognise and clean up if a crash leaves one."""
    from vidcolor.video.writer import temporary_path

    target = Path(target)
    temp = temporary_path(target)
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read 4 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
