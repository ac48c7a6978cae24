"""The one line naming the machine a benchmark ran on, printed at the top of every benchmark's table."""

import datetime
import os
import platform
from pathlib import Path

import torch


def cpu() -> str:
    """The CPU's model name and the bf16 instructions oneDNN can use (Linux's /proc/cpuinfo)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = (line.split(":", 1) for line in info.splitlines() if ":" in line)
    lines = {key.strip(): value.strip() for key, value in fields}
    name = lines.get("model name") or platform.processor() or platform.machine()
    flags = set(lines.get("flags", "").split())
    bf16 = [label for flag, label in (("avx512_bf16", "AVX-512 bf16"), ("amx_bf16", "AMX")) if flag in flags]
    return f"{name} ({platform.machine()}{', ' + ', '.join(bf16) if bf16 else ''})"


def describe() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, {datetime.date.today()}"
