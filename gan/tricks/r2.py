"""R2 gradient penalty on fakes (Mescheder et al. 2018): gamma/2 * E[|grad_x D(x)|^2] at G's samples as
D saw them. With r1 it is R3GAN's R1 + R2 (Huang et al. 2024):

    python train.py loss=rpgan 'trick=[r1,r2]' trick.r1.gamma=1 trick.r2.gamma=1

Lazy like r1: every `interval` iterations, scaled by `interval`.
"""

from gan.tricks.r1 import R1


class R2(R1):
    on = "fake"
