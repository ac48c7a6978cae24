"""Callbacks: what only observes training (sample grids, FID, plots, health checks)."""
