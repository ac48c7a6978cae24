"""gan: Lightning + Hydra GAN framework."""
