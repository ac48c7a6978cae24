"""Train a GAN.

uv run python train.py                                   # DCGAN on the built-in digits, CPU, offline
uv run python train.py model=dcgan256 data=heels trick=instance_noise
uv run python train.py -m loss=nonsaturating,lsgan trick=label_smoothing,instance_noise
"""

import os
import sys

import hydra
from dotenv import load_dotenv
from omegaconf import DictConfig

load_dotenv()  # before composition: DATA_DIR, WANDB_* and FID_WEIGHTS come from .env


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from gan.errors import ConfigError
    from gan.guard import DivergenceError
    from gan.run import train

    try:
        return train(cfg)
    except (ConfigError, DivergenceError) as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)  # the message says what to fix; no traceback to read past
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
