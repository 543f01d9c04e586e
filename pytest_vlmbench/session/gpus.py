"""Which GPU an xdist worker gets when several are visible: one each, round robin.

Decided before torch is imported in the worker, through ``CUDA_VISIBLE_DEVICES``, so each
worker's ``cuda`` (and ``device_map="auto"``) sees only its own card and two workers never
load models onto the same one.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def visible_gpus(environ: MutableMapping[str, str]) -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else NVML's count."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    try:
        import pynvml  # light: a ctypes binding; absent or without a driver -> no GPUs

        pynvml.nvmlInit()
        try:
            return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML library, no driver, no permission
        return []


def gpu_for_worker(worker_id: str, visible: list[str]) -> str | None:
    """The GPU for worker ``gwN``: ``visible[N % len(visible)]``; ``None`` with fewer than two GPUs."""
    if len(visible) < 2 or not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        return None
    return visible[int(worker_id[2:]) % len(visible)]


def pin_worker(worker_id: str, environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Give this worker its own GPU (sets ``CUDA_VISIBLE_DEVICES``); returns the GPU or ``None``."""
    gpu = gpu_for_worker(worker_id, visible_gpus(environ))
    if gpu is not None:
        environ["CUDA_VISIBLE_DEVICES"] = gpu
    return gpu
