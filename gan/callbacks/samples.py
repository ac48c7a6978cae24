"""Sample grids from the fixed latent batch: `samples/iter_<iteration>.png` at the first iteration, every
`every_n_iterations` and at the end, sent to the loggers at that iteration, and a progress GIF of all grids
written when training ends. A resumed run first removes the grids a killed run drew after its checkpoint.
"""

from pathlib import Path

import lightning as L
from PIL import Image
from torchvision.utils import make_grid, save_image

from gan.cadence import due
from gan.io import non_essential
from gan.loggers import log_image


def grid_iteration(path: Path) -> int:
    return int(path.stem.removeprefix("iter_"))


class SampleGrid(L.Callback):
    def __init__(self, dirpath: str, every_n_iterations: int = 500, gif: bool = True, gif_ms: int = 300):
        self.dirpath = Path(dirpath)
        self.every_n_iterations, self.gif, self.gif_ms = every_n_iterations, gif, gif_ms

    def on_train_start(self, trainer, module) -> None:
        if trainer.is_global_zero:  # the iteration is the checkpoint's by now (0 for a fresh run)
            for path in self.dirpath.glob("iter_*.png"):
                if grid_iteration(path) > module.iteration:
                    path.unlink(missing_ok=True)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if due(module.iteration, self.every_n_iterations, first=1):
            self.write(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if not (self.dirpath / f"iter_{module.iteration:07d}.png").is_file():
            self.write(trainer, module)
        if self.gif and trainer.is_global_zero:
            with non_essential("the progress GIF"):
                write_gif(sorted(self.dirpath.glob("iter_*.png")), self.dirpath / "progress.gif", self.gif_ms)

    def write(self, trainer: L.Trainer, module) -> Path | None:
        images = module.sample_fixed()
        if not trainer.is_global_zero:
            return None
        grid = make_grid(images.float().cpu(), nrow=module.sample_nrow, normalize=True, value_range=(-1, 1))
        path = self.dirpath / f"iter_{module.iteration:07d}.png"
        with non_essential(f"sample grid {path}"):
            self.dirpath.mkdir(parents=True, exist_ok=True)
            save_image(grid, path)
        log_image(trainer, "samples", grid, module.iteration)
        return path


def write_gif(frames: list[Path], path: Path, ms: int = 300) -> Path | None:
    if not frames:
        return None
    images = [Image.open(f).convert("RGB") for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0)
    return path
