"""Timing, memory and energy of an evaluation.

- Each batch is timed on its own, with CUDA synchronised before the clock is read, so
  asynchronous kernels are not credited to the next batch.
- On CUDA: peak memory from torch (``max_memory_allocated``, reset at the start) and from
  NVML (device memory in use, sampled after every batch; it includes other processes and
  the CUDA context, which torch does not see), and energy from NVML's total-energy counter.
- Everywhere: the process's peak resident set size (``ru_maxrss``). It is a high-water mark
  for the whole process, not for one item: read it as "the run needed at most this much".

torch and pynvml are imported only when the device is CUDA.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..record import Energy, LatencyMs, Memory, Throughput


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


@dataclass
class CostMeter:
    """Collects per-batch latencies and resource peaks for one evaluation."""

    device: str = "cpu"
    latencies_s: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    _torch: Any = None
    _nvml_handle: Any = None
    _nvml_peak: int = 0
    _energy_start_mj: int | None = None
    _start: float = 0.0
    _wall_s: float = 0.0
    gpu_name: str | None = None
    """The CUDA device's name; pytest-benchmark's machine id ignores the GPU, baselines must not."""

    def start(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            self._torch = torch
            index = torch.device(self.device).index
            index = torch.cuda.current_device() if index is None else index
            torch.cuda.synchronize(index)
            torch.cuda.reset_peak_memory_stats(index)
            self.gpu_name = torch.cuda.get_device_name(index)
            self._init_nvml(index)
        self._start = time.perf_counter()

    def _init_nvml(self, index: int) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml_handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._sample_nvml()
            try:
                self._energy_start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._nvml_handle)
            except pynvml.NVMLError:  # pre-Volta GPUs have no energy counter
                self._energy_start_mj = None
        except Exception:  # no NVML library or no permission: torch's numbers still stand
            self._nvml_handle = None

    def _sample_nvml(self) -> None:
        if self._nvml_handle is not None:
            import pynvml

            used = int(pynvml.nvmlDeviceGetMemoryInfo(self._nvml_handle).used)
            self._nvml_peak = max(self._nvml_peak, used)

    def sync(self) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize()

    def record_batch(self, seconds: float, size: int) -> None:
        self.latencies_s.append(seconds)
        self.batch_sizes.append(size)
        self._sample_nvml()

    def stop(self) -> None:
        self.sync()
        self._wall_s = time.perf_counter() - self._start

    def throughput(self, n_items: int, model_load_s: float | None) -> Throughput:
        """Speed over the batches recorded so far (the batch plan adds its own part)."""
        lat = sorted(self.latencies_s)
        wall = self._wall_s
        return Throughput(
            items_per_s=n_items / wall if wall > 0 else 0.0,
            wall_s=wall,
            model_time_s=sum(lat),
            n_batches=len(lat),
            n_requests=sum(self.batch_sizes),
            batch_latency_ms=LatencyMs(
                mean=1000 * sum(lat) / len(lat) if lat else 0.0,
                p50=1000 * _percentile(lat, 0.50),
                p90=1000 * _percentile(lat, 0.90),
                p99=1000 * _percentile(lat, 0.99),
                max=1000 * (lat[-1] if lat else 0.0),
            ),
            model_load_s=model_load_s,
        )

    def memory(self) -> Memory:
        """The high-water marks; the CUDA ones only when the meter ran on CUDA (NVML's when it is readable)."""
        cuda = self._torch is not None
        return Memory(
            device=self.device,
            peak_rss_mb=peak_rss_mb(),
            gpu_name=self.gpu_name,
            torch_peak_mb=self._torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            torch_peak_reserved_mb=self._torch.cuda.max_memory_reserved() / 2**20 if cuda else None,
            nvml_peak_mb=self._nvml_peak / 2**20 if self._nvml_handle is not None else None,
        )

    def energy(self, n_items: int = 0) -> Energy | None:
        """GPU energy since :meth:`start` (and per item, over ``n_items``); ``None`` without NVML's energy counter."""
        if self._nvml_handle is None or self._energy_start_mj is None:
            return None
        import pynvml

        joules = (pynvml.nvmlDeviceGetTotalEnergyConsumption(self._nvml_handle) - self._energy_start_mj) / 1000
        per_item = joules / n_items if n_items else None
        return Energy(joules=joules, source="nvml total energy (whole GPU)", joules_per_item=per_item)
