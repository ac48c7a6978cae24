"""A training run from its config to its end: `train.train(cfg)` (called by train.py), the run folder and its
record (`rundir`), resume (`resume`), the clock and time budget (`clock`), the end of a run (`ending`,
`summary`), checks before iteration 1 (`validate`) and weights from another run (`transfer`)."""
