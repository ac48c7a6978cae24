"""LightningDataModules, one per dataset; each yields (image in [-1, 1], label) batches
([0, 1] with `data.pixel_range=[0,1]`).

Image size, channels and number of classes are datamodule properties; G and D are built from them.
"""
