"""Segments as Ray tasks on an existing cluster (``pip install "vidcolor[cluster]"``); the driver joins.

How the data travels:

- In: the input film by **shared path**. Every node opens ``options.input`` itself (NFS, SMB, a
  mounted bucket) and decodes only its segment's window; shipping a feature film through the
  object store would copy all of it to every node. A node that cannot see the path fails with a
  ClusterError saying so.
- Out: each finished segment file by **object store**. The task encodes into a temporary folder
  on its node and returns the file's bytes (a few MB to a few hundred MB); the driver writes them
  into its work folder and records them in the manifest, so only the driver's disk needs to be
  writable and resume works exactly as for local runs.

Scheduling is Ray's: one task per unfinished segment, asking for one GPU where the cluster has
GPUs, else one CPU (the task's thread budget). Worker processes are reused between tasks, so a
node loads the backend once (``segments._WORKER_BACKEND``).
"""
from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Callable

from vidcolor.errors import ClusterError, VidcolorError
from vidcolor.options import RunOptions
from vidcolor.video.reader import VideoInfo
from vidcolor.video.writer import PlaneFormat
from vidcolor.files import write_atomically
from vidcolor.workdir import WorkFolder

_INSTALL = 'install it with: pip install "vidcolor[cluster]"'


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs the ray package, which is not installed", _INSTALL) from None
    return ray


def connect(address: str) -> bool:
    """Connect this process to the cluster at ``address`` ("auto" or "host:port").

    Returns True when it connected (and should disconnect), False when already connected.
    A host:port is tried with a plain TCP connection first: Ray itself retries for minutes.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address != "auto":
        check_reachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {e}", "start one with `ray start --head`, or check the address") from None
    return True


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ClusterError unless something listens at ``address`` ("host:port", "ray://host:port")."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return
    except ValueError:
        raise ClusterError(f"--ray address must be host:port or auto, got {address!r}", "e.g. --ray 10.0.0.5:6379") from None
    except OSError as e:
        raise ClusterError(f"the Ray cluster at {address} cannot be reached ({e.strerror or e})", "start it with `ray start --head`, or check the address") from None


def run_on_ray(options: RunOptions, info: VideoInfo, fmt: PlaneFormat, todo: list, work: WorkFolder, suffix: str, advance: Callable[[], None]) -> list:
    """Run the ``todo`` segments as Ray tasks; record each in the manifest as it comes back."""
    ray = import_ray()
    owned = connect(options.ray)
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_gpus=1, num_cpus=1)(_segment_task) if gpus else ray.remote(num_cpus=1)(_segment_task)
        pending = {task.remote(options, info, fmt, s, suffix): s for s in todo}
        results = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            segment = pending.pop(done[0])
            result, data = _get(ray, done[0])
            target = work.segment_path(segment.index, suffix)
            write_atomically(target, data)
            work.record(segment.index, target, result.frames)
            for _ in range(result.frames):
                advance()
            results.append(result)
        return results
    except BaseException:
        for ref in locals().get("pending", {}):
            ray.cancel(ref, force=True)
        raise
    finally:
        if owned:
            ray.shutdown()


def _get(ray, ref):
    """ray.get, with a vidcolor error raised in a task re-raised as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, VidcolorError):
            raise e.cause from None
        raise


def _segment_task(options: RunOptions, info: VideoInfo, fmt: PlaneFormat, segment, suffix: str):
    """On a node: encode ``segment`` into a local temporary file; return (SegmentResult, its bytes)."""
    from vidcolor.segments import segment_job

    if not Path(info.path).is_file():
        raise ClusterError(f"the input {info.path} is not visible on node {socket.gethostname()}", "put the film on a path every node mounts (shared storage)")
    with tempfile.TemporaryDirectory(prefix="vidcolor-segment-") as folder:
        target = Path(folder) / f"segment-{segment.index:05d}{suffix}"
        result = segment_job(options, info, fmt, segment, target, threads=1)
        return result, target.read_bytes()
