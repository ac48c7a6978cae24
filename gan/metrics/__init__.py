"""Feature networks for FID/KID/IS, built from a config node (`callbacks.fid.feature`)."""
