"""Train a GAN (the same as `python -m gan`, which works wherever the package is installed).

uv run python train.py                                   # DCGAN on the built-in digits, CPU, offline
uv run python train.py model=dcgan256 data=heels trick=instance_noise
uv run python train.py -m loss=nonsaturating,lsgan trick=label_smoothing,instance_noise
"""

from gan.__main__ import run

if __name__ == "__main__":
    run()
