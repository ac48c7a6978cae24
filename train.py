"""Train a GAN.

uv run python train.py                                   # DCGAN on the built-in digits, CPU, offline
uv run python train.py model=dcgan256 data=heels trick=instance_noise
uv run python train.py -m loss=nonsaturating,lsgan trick=label_smoothing,instance_noise
"""

import hydra
from dotenv import load_dotenv
from omegaconf import DictConfig

load_dotenv()  # before composition: DATA_DIR, WANDB_* and FID_WEIGHTS come from .env


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from gan.run import train

    return train(cfg)


if __name__ == "__main__":
    main()
