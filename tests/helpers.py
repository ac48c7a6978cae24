"""Test-only callbacks, loaded into real training subprocesses through Hydra overrides."""

import os
import signal
import subprocess
import time

import lightning as L


class KillAt(L.Callback):
    """SIGKILL this process in the middle of iteration `iteration` (just before G's optimizer step)."""

    def __init__(self, iteration: int, sig: str = "SIGKILL"):
        self.iteration, self.sig = iteration, getattr(signal, sig)

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        if module.iteration == self.iteration and optimizer is trainer.optimizers[0]:
            os.kill(os.getpid(), self.sig)


class SignalAt(L.Callback):
    """Send a signal to this process at the start of iteration `iteration` (as a user or scheduler would),
    `times` times, `gap` seconds apart (2: a second Ctrl-C while the first is being handled)."""

    def __init__(self, iteration: int, sig: str = "SIGTERM", times: int = 1, gap: float = 0.0):
        self.iteration, self.sig, self.times, self.gap = iteration, getattr(signal, sig), times, gap

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if module.iteration == self.iteration:
            for i in range(self.times):
                time.sleep(self.gap if i else 0)
                os.kill(os.getpid(), self.sig)


class GroupSignalAt(L.Callback):
    """From iteration `iteration` on, a separate process sends a signal to this process's whole group, as
    SLURM, `timeout` or a terminal's Ctrl-C do from outside (the loader workers and a wrapper such as `uv run`
    get it too); each later iteration waits a little, so the signal lands mid-training with workers busy."""

    def __init__(self, iteration: int, sig: str = "SIGTERM"):
        self.iteration, self.sig = iteration, sig

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if module.iteration == self.iteration:
            subprocess.Popen(["sh", "-c", f"sleep 0.3; kill -{self.sig[3:]} -{os.getpgrp()}"])
        if module.iteration >= self.iteration:
            time.sleep(0.05)


class KillWorkerAt(L.Callback):
    """SIGKILL one of this process's data loader workers at iteration `iteration`, as the out-of-memory
    killer does."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if module.iteration != self.iteration:
            return
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid():  # its parent: this process
                    os.kill(int(pid), signal.SIGKILL)
                    return
