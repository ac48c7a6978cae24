"""LightningDataModules, one per dataset; each yields (image in [-1, 1], label) batches.

Image size, channels and number of classes are datamodule properties (and config keys models interpolate).
"""
