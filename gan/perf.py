"""The precision a run trains in, `trainer.precision` (the one key): a Lightning value (32-true, bf16-mixed,
16-mixed, ...) or `auto`, which picks it from the accelerator, so one preset (`perf=fast`, which sets auto)
serves CPU and GPU. `perf.precision` was its old name (gan/renamed.py).

- CUDA with bf16 (Ampere and newer): bf16-mixed (unmeasured here: no GPU has been lent to this project).
- CPU with AVX-512 bf16 or AMX (oneDNN runs bf16 convolutions and matmuls natively): bf16-mixed. Whether
  it is faster than fp32 on a given CPU is what `benchmarks/overhead.py --sections roofline` measures.
- Anything else: 32-true.
"""

import logging

import torch

from gan.errors import ConfigError

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


def precision(trainer: dict, perf: dict | None = None) -> str:
    """The precision a run uses: `trainer.precision`, with `auto` resolved for this machine. A
    `perf.precision` (the old key, from a user's own yaml) is refused naming the one to set."""
    if (perf or {}).get("precision") is not None:
        raise ConfigError(
            f"perf.precision={perf['precision']} is now called trainer.precision: set "
            f"trainer.precision={perf['precision']} instead"
        )
    wanted = trainer.get("precision") or "32-true"
    if wanted != "auto":
        return wanted
    chosen, why = auto_precision(str(trainer.get("accelerator", "auto")))
    log.info("trainer.precision=auto: %s on %s", chosen, why)
    return chosen
