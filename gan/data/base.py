"""The shared datamodule: batching, workers, pinned memory, seeded shuffling, class subsets."""

import atexit
import multiprocessing
import os
import signal
import sys
import traceback

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from gan.data.device import DeviceBatches
from gan.data.sampler import ResumableRandomSampler
from gan.errors import ConfigError
from gan.pixels import to_unit
from gan.run.resume import between_epochs

#: `data.pixel_range`: the value range of the images training sees
PIXEL_RANGES = ([-1.0, 1.0], [0.0, 1.0])


class GANDataModule(L.LightningDataModule):
    """Subclasses implement `build_dataset()` returning a Dataset of (image [C,H,W] in [-1,1], int label).
    The number of classes is that of `class_names`: the data knows it, no config types it."""

    #: names of the classes, index = label id; empty for unlabelled data
    class_names: tuple[str, ...] = ()
    #: labelled small images: FID falls back to a domain classifier's features (gan/metrics/classifier.py)
    domain_fid: bool = False

    #: channels when `data.channels` is null: the dataset's own (1 for grayscale digits, 3 for photos)
    native_channels: int = 3

    def __init__(
        self,
        image_size: int,
        channels: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        classes: list[int | str] | None = None,
        pixel_range: tuple[float, float] = (-1, 1),
        on_device: bool = False,
    ):
        super().__init__()
        try:
            self.pixel_range = [float(v) for v in pixel_range]
        except (TypeError, ValueError):
            self.pixel_range = None
        if self.pixel_range not in PIXEL_RANGES:
            raise ConfigError(f"data.pixel_range={pixel_range}: allowed values are [-1, 1] or [0, 1]")
        self.image_size, self.channels = image_size, channels or self.native_channels
        self.num_classes = len(self.class_names)
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.on_device = on_device  # in-memory data batched on the training device (gan/data/device.py)
        self.classes = self.resolve_classes(classes)
        self.train_set: Dataset | None = None
        self.seed = int(os.environ.get("PL_GLOBAL_SEED", 0))  # set by seed_everything (the run's `seed`)
        self._resume: dict | None = None

    def resolve_classes(self, classes: list[int | str] | None) -> list[int]:
        """`data.classes` as label ids; names or ids accepted, anything else fails listing the valid ones."""
        if not classes:
            return list(range(self.num_classes))
        valid = {name: i for i, name in enumerate(self.class_names)}
        ids = []
        for c in classes:
            if isinstance(c, int) and 0 <= c < self.num_classes:
                ids.append(c)
            elif isinstance(c, str) and c in valid:
                ids.append(valid[c])
            else:
                listing = (
                    ", ".join(f"{i}={n}" for i, n in enumerate(self.class_names)) or "none (unlabelled data)"
                )
                raise ConfigError(
                    f"data.classes: {c!r} is not a class of this dataset; valid classes: {listing}"
                )
        return ids

    def build_dataset(self) -> Dataset:
        raise NotImplementedError

    def held_out_dataset(self) -> Dataset | None:
        """Images of the selected classes that training never sees, preprocessed like the training set;
        None when the dataset has no such split (the domain FID then compares with the training set)."""
        return None

    def prepare(self, dataset: Dataset) -> Dataset:
        """The selected classes, in the value range training uses."""
        if self.num_classes and len(self.classes) < self.num_classes:
            keep = set(self.classes)
            labels = dataset_labels(dataset)
            dataset = Subset(dataset, [i for i, y in enumerate(labels) if int(y) in keep])
        return dataset if self.pixel_range == [-1.0, 1.0] else ZeroOne(dataset)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            dataset = self.prepare(self.build_dataset())
            if len(dataset) < self.batch_size:
                raise ConfigError(
                    f"the dataset has {len(dataset)} images, fewer than data.batch_size={self.batch_size}"
                )
            self.train_set = dataset

    def state_dict(self) -> dict:
        """Where the epoch stands, saved in every checkpoint, so a resumed run continues mid-epoch."""
        if self.trainer is None:
            return {}
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.ready
        if between_epochs(self.trainer.fit_loop):
            done = 0  # current_epoch is already the next one
        return {"epoch": self.trainer.current_epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        self._resume = state or None

    def train_dataloader(self) -> DataLoader:
        self.sampler = ResumableRandomSampler(len(self.train_set), seed=self.seed)
        if self._resume is not None:
            self.sampler.resume_at(self._resume["epoch"], self._resume["batches_done"] * self.batch_size)
            self._resume = None
        if self.on_device:
            device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
            return DeviceBatches(self.train_set, self.sampler, self.batch_size, device)
        if self.num_workers > 0:  # registered last, so it runs before multiprocessing's own exit handler
            atexit.unregister(stop_deaf_workers)
            atexit.register(stop_deaf_workers)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=self.sampler,
            # its own generator: creating an iterator must not draw from the global RNG (exact resume)
            generator=torch.Generator().manual_seed(self.seed),
            drop_last=True,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=deaf_worker if self.num_workers > 0 else None,
        )


def deaf_worker(worker_id: int) -> None:
    """A loader worker ignores SIGINT and SIGTERM: sent to the whole process group (SLURM, `timeout`, Ctrl-C),
    they are the main process's to handle (save, then stop); a worker that died of them first would end the
    run with a traceback and no checkpoint. Then Lightning's own per-worker seeding, which this replaces."""
    from lightning.fabric.utilities.seed import pl_worker_init_function

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    quiet_handoffs()
    pl_worker_init_function(worker_id)


SHARER = os.path.join("multiprocessing", "resource_sharer.py")


def stop_deaf_workers() -> None:
    """At exit, loader workers still running are killed. multiprocessing's exit handler sends them SIGTERM,
    which they ignore (deaf_worker), then waits for them: a run leaving with its loader alive (an error, a
    dead worker) waited forever."""
    workers = [child for child in multiprocessing.active_children() if child.daemon]
    if workers:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # torch's handler would report these deaths as errors
    for worker in workers:
        worker.kill()
        worker.join(timeout=5)


def quiet_handoffs() -> None:
    """A worker hands a batch's tensors over through multiprocessing's resource sharer, a thread that prints
    a traceback when the main process leaves mid-handoff (it stops on a dead worker or a signal): the main
    process reports why it stopped, once, so a dropped handoff in a worker stays silent."""
    hook = sys.excepthook

    def quiet(kind, error, tb) -> None:
        frames = traceback.extract_tb(tb)
        handoff = frames and frames[0].filename.endswith(SHARER)
        if not (handoff and issubclass(kind, (ConnectionError, EOFError))):
            hook(kind, error, tb)

    sys.excepthook = quiet


class ZeroOne(Dataset):
    """Images mapped from [-1, 1] to [0, 1] (`data.pixel_range=[0,1]`): the input of S0's first experiment."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, label = self.dataset[i]
        return to_unit(image), label


def dataset_labels(dataset: Dataset) -> torch.Tensor:
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if hasattr(dataset, "labels"):
        return torch.as_tensor(dataset.labels)
    if hasattr(dataset, "tensors"):
        return dataset.tensors[1]
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
