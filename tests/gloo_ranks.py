"""One rank of tests/test_small_data_ddp.py's hand-checked reduction, in a module light enough that the
spawned processes import only torch and the two tricks."""

import torch
import torch.distributed as dist

from gan.step import FeatureTaps, Seen
from gan.tricks.ada import ADA
from gan.tricks.lecam import LeCam

# per rank: D's real and fake logits on its own batch
LOGITS = {
    0: ([1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]),
    1: ([-1.0, -1.0, -1.0, 5.0], [1.0, 1.0, 1.0, 1.0]),
}


class Logits(torch.nn.Module):
    def forward(self, x, cond=None):
        return x.flatten(1)[:, 0]


def one_rank(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    real, fake = (torch.tensor(v).view(-1, 1, 1, 1) for v in LOGITS[rank])
    d = Logits()
    seen = Seen(real, fake, None, d, FeatureTaps(d, []))
    ada, lecam = ADA(interval=1, initial_p=0.5), LeCam(start_iteration=10)
    for trick in (ada, lecam):
        trick.begin_iteration(0)
        trick.d_penalty(seen)
    ada.after_step("d", torch.zeros(()), None)
    torch.save({"p": ada.p, "rt": ada.rt, "anchors": lecam.anchors}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()
