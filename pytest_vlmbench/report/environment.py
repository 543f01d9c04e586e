"""The report's environment section: where and with what a run was made, as (fact, value) rows."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from typing import Any

from ..gate.baseline import Run
from ..record import Record


def local_machine_info() -> dict[str, Any]:
    """This machine, under pytest-benchmark's ``machine_info`` keys, for a run read from memory."""
    return {
        "node": platform.node(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python_version": platform.python_version(),
    }


def environment(run: Run) -> list[tuple[str, str]]:
    """The run's environment, as (fact, value) rows: when, which commit, machine, devices, versions, options."""
    rows: list[tuple[str, str]] = []
    commit = run.commit_info
    if run.datetime:
        rows.append(("date", run.datetime))
    if commit.get("id"):
        dirty = " (uncommitted changes)" if commit.get("dirty") else ""
        rows.append(("commit", f"{commit['id']}{dirty}" + (f" on {commit['branch']}" if commit.get("branch") else "")))
    machine = run.machine_info
    cpu = machine.get("cpu")
    brand = cpu.get("brand_raw") if isinstance(cpu, Mapping) else None
    for key, name in (("node", "machine"), ("system", "system"), ("release", "kernel"), ("python_version", "python")):
        if machine.get(key):
            rows.append((name, str(machine[key])))
    if brand or machine.get("processor"):
        rows.append(("cpu", str(brand or machine.get("processor"))))
    records = [entry.record for entry in run]
    devices = dict.fromkeys(f"{r.device} ({r.gpu_name})" if r.gpu_name else r.device for r in records)
    rows.append(("devices", ", ".join(d for d in devices if d) or "unknown"))
    versions: dict[str, str] = {}
    for record in records:
        for name, version in record.config.versions.items():
            versions.setdefault(name, str(version))
    rows.extend((f"version: {name}", version) for name, version in versions.items())
    options = next((r.options for r in records if r.options), None) or {}
    for name, value in options.items():
        if value not in (None, [], "", False):
            rows.append((f"option: {name}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def model_rows(records: Sequence[Record]) -> list[dict[str, str]]:
    """One row per model of a run: what the adapter reported about it (architecture, dtype, size, source)."""
    seen: dict[str, dict[str, str]] = {}
    for record in records:
        info = record.model_info
        load = record.throughput.model_load_s
        seen.setdefault(record.model, {
            "model": record.model,
            "architecture": info.architecture or "",
            "dtype": info.dtype or "",
            "parameters": f"{info.parameters:,}" if info.parameters is not None else "",
            "device": record.device + (f" ({record.gpu_name})" if record.gpu_name else ""),
            "load s": f"{load:.2f}" if load is not None else "",
            "source": info.source or "",
        })  # fmt: skip
    return list(seen.values())
