"""Train a GAN: `python train.py ...` in a checkout, `python -m gan ...` wherever the package is installed.

python -m gan                                   # DCGAN on scikit-learn's digits, CPU, offline
python -m gan model=dcgan256 data=heels trick=instance_noise
python -m gan -m loss=nonsaturating,lsgan trick=label_smoothing,instance_noise
"""

import os
import sys

import hydra
from dotenv import find_dotenv, load_dotenv
from omegaconf import DictConfig

from gan.cli import CONF

load_dotenv(find_dotenv(usecwd=True))  # before composition: DATA_DIR, WANDB_* and FID_WEIGHTS come from .env


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.errors import InstantiationException

    from gan.cli import unknown_key
    from gan.errors import ConfigError
    from gan.guard import DivergenceError
    from gan.run.rundir import discard_if_empty, save_record
    from gan.run.train import output_dir, sweeping, train

    try:
        return train(cfg)
    except InstantiationException as err:  # `+data.imagesize=64`: the closest setting, in one line
        if (message := unknown_key(err)) is None:
            raise
        discard_if_empty(output_dir(cfg))
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ConfigError, DivergenceError) as err:
        if sweeping():  # a sweep job's directory stays, with its record: the report marks it failed
            save_record(output_dir(cfg), cfg)
        else:
            discard_if_empty(output_dir(cfg))
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)  # the message says what to fix; no traceback to read past
        raise SystemExit(2) from None


def run() -> None:
    from gan.cli import install

    install()  # a mistyped option or a broken YAML file: one line, exit 2
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C before training started (during training, gan/callbacks/interrupt.py)
        print("Interrupted before training started; nothing was saved.", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    run()
