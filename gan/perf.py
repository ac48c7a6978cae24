"""The `perf` group's choices that depend on the machine: `perf.precision=auto` picks the precision from
the accelerator, so one preset (`perf=fast`) serves CPU and GPU.

- CUDA with bf16 (Ampere and newer): bf16-mixed (unmeasured here: no GPU has been lent to this project).
- CPU with AVX-512 bf16 or AMX (oneDNN runs bf16 convolutions and matmuls natively): bf16-mixed. Whether
  it is faster than fp32 on a given CPU is what `benchmarks/overhead.py --sections roofline` measures.
- Anything else: 32-true.
"""

import logging

import torch

log = logging.getLogger(__name__)


def cuda_wanted(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def auto_precision(accelerator: str) -> tuple[str, str]:
    """(precision, why) for this machine."""
    if cuda_wanted(accelerator):
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16-mixed", "a CUDA GPU with bf16"
        return "32-true", "a CUDA GPU without bf16"
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "bf16-mixed", "a CPU with native bf16 (oneDNN)"
    return "32-true", "a CPU without native bf16"


def precision(perf: dict, trainer: dict) -> str:
    """The trainer precision a run uses: `perf.precision` (auto, or a Lightning value) over trainer's."""
    wanted = perf.get("precision")
    if wanted is None:
        return trainer.get("precision", "32-true")
    if wanted != "auto":
        return wanted
    chosen, why = auto_precision(str(trainer.get("accelerator", "auto")))
    log.info("perf.precision=auto: %s on %s", chosen, why)
    return chosen
