"""Adaptive discriminator augmentation, ADA (Karras et al. 2020; github.com/NVlabs/stylegan2-ada-pytorch,
training/augment.py for the pipeline, training/training_loop.py for the adjustment of p).

    python train.py 'trick=[ada]' [trick.ada.target=0.6 trick.ada.speed_kimg=500 trick.ada.pipeline=blit]

Every image D sees, real and fake alike, goes through the same random pipeline in `d_input`, once per
iteration: D's loss, every penalty (R1 at the augmented reals, as in ADA) and G's loss see the same images,
and G's gradient flows through the augmentation. Each transform is applied to an image with probability p.

p adapts to the overfitting heuristic r_t = E[sign(D(real))]: D's real logits are read in `d_penalty`
(`seen.logits("real")`, the forward D's loss already ran), summed with their count on every DDP rank, and
every `interval` iterations (ADA's 4) p moves by sign(r_t - target) * (reals judged) / (speed_kimg * 1000),
so p can go from 0 to 1 in `speed_kimg` = 500k images as in the paper; clamped to [0, 1]. p, the running
sums and the last r_t are buffers: checkpointed, resumed exactly, and equal on every rank. Logged as
trick/ada/p and trick/ada/rt.

Pipeline (`pipeline`, comma separated, applied in this order, as ADA's):
- `blit`: x-flip, rotation by a multiple of 90 degrees, integer translation up to 1/8 of the image with
  reflection padding (ADA's xflip, rotate90, xint): exact pixel permutations.
- `color`: brightness (+N(0, 0.2)), contrast (x 2^N(0, 0.5)), luma flip, hue rotation about the luma axis
  (U(-pi, pi)) and saturation (x 2^N(0, 1)), one 4x4 colour matrix per image as ADA's; hue and saturation
  only for RGB.
- `cutout`: a square of half the image side set to 0 (ADA's cutout; R3GAN's runs use it).
Default `blit,color`. ADA's default `bgc` adds general geometric transforms (arbitrary rotation, isotropic
and anisotropic scaling, fractional translation): those resample through a 2x wavelet-filtered upsampling and
grid_sample, the costliest group on a CPU and the only one that is not an exact pixel operation. The issue
asks for flips, 90-degree rotations, integer translation and colour; the geometric group is left out (not
yet measured here with or without).

r_t reads "D says real" as ADA does for logits centred on 0 (minimax, nonsaturating, hinge); for lsgan
(targets 1 and 0) the boundary is 0.5; for the relativistic and critic losses (rpgan, ragan, wgan_gp), whose
absolute outputs mean nothing, r_t is the sign of D(real) - D(fake) (paired by index; against the mean fake
for ragan), what R3GAN reports as its real signs. The target 0.6 was tuned by ADA for the non-saturating
loss; for the others it is untuned. `label_flip` (real target 0) inverts the heuristic and is refused.
"""

import math

import torch

from gan.distributed import all_reduce_sum
from gan.errors import ConfigError
from gan.tricks.base import Trick

#: how r_t reads D's real logits, per loss
RT_KIND = {
    "minimax": "absolute",
    "nonsaturating": "absolute",
    "hinge": "absolute",
    "lsgan": "midpoint",
    "rpgan": "paired",
    "wgan_gp": "paired",
    "ragan": "mean",
}
PIPELINES = ("blit", "color", "cutout")
LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)


# ---- pixel blitting ----------------------------------------------------------------------------------


def draw_blit(x: torch.Tensor, p: torch.Tensor, translation: float = 0.125) -> dict[str, torch.Tensor]:
    """Per image: flip (0/1), quarter turns (0-3), shift in pixels (tx, ty); each kept with probability p."""
    n, _, h, w = x.shape
    dev = x.device

    def chosen(shape):
        return torch.rand(shape, device=dev) < p

    flip = torch.floor(torch.rand(n, device=dev) * 2)
    flip = torch.where(chosen(n), flip, torch.zeros_like(flip)).long()
    turns = torch.floor(torch.rand(n, device=dev) * 4)
    turns = torch.where(chosen(n), turns, torch.zeros_like(turns)).long()
    t = (torch.rand(n, 2, device=dev) * 2 - 1) * translation
    t = torch.where(chosen((n, 1)), t, torch.zeros_like(t))
    return {
        "flip": flip,
        "turns": turns,
        "tx": torch.round(t[:, 0] * w).long(),
        "ty": torch.round(t[:, 1] * h).long(),
    }


def reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror indices outside [0, size) back inside, without repeating the edge (padding mode 'reflect')."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def blit(x: torch.Tensor, flip: torch.Tensor, turns: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor):
    """Flip left-right, turn by `turns` quarter turns (torch.rot90 over H, W), then shift right by `tx` and
    down by `ty` pixels, the uncovered border mirrored (square images)."""
    n, c, h, w = x.shape
    x = torch.where(flip.bool()[:, None, None, None], x.flip(3), x)
    turned = x
    for k in (1, 2, 3):
        turned = torch.where((turns == k)[:, None, None, None], torch.rot90(x, k, dims=(2, 3)), turned)
    rows = reflect(torch.arange(h, device=x.device)[None] - ty[:, None], h)  # output row i reads i - ty
    cols = reflect(torch.arange(w, device=x.device)[None] - tx[:, None], w)
    out = turned.gather(2, rows[:, None, :, None].expand(n, c, h, w))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


# ---- colour ------------------------------------------------------------------------------------------


def _eye(n, dev):
    return torch.eye(4, device=dev).expand(n, 4, 4)


def luma_rotation(theta: torch.Tensor) -> torch.Tensor:
    """[n, 4, 4] rotations by `theta` about the luma axis (1, 1, 1)/sqrt(3) (Rodrigues' formula)."""
    v = LUMA.to(theta.device)[:3]
    cross = torch.tensor(
        [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], device=theta.device
    ) / math.sqrt(3)
    s, c = torch.sin(theta)[:, None, None], torch.cos(theta)[:, None, None]
    rot = c * torch.eye(3, device=theta.device) + s * cross + (1 - c) * torch.outer(v, v)
    out = _eye(len(theta), theta.device).clone()
    out[:, :3, :3] = rot
    return out


def color_matrix(brightness, contrast, lumaflip, hue, saturation) -> torch.Tensor:
    """ADA's colour transform C ([n, 4, 4], acting on (r, g, b, 1)): brightness, then contrast, luma flip,
    hue rotation, saturation."""
    n, dev = len(brightness), brightness.device
    eye = _eye(n, dev)
    v = LUMA.to(dev)
    vv = torch.outer(v, v)
    shift = eye.clone()
    shift[:, :3, 3] = brightness[:, None]
    scale = eye.clone()
    rgb = torch.arange(3, device=dev)
    scale[:, rgb, rgb] = contrast[:, None]
    flip = eye - 2 * vv * lumaflip[:, None, None]  # Householder reflection through the luma plane
    sat = vv + (eye - vv) * saturation[:, None, None]
    return sat @ luma_rotation(hue) @ flip @ scale @ shift


def draw_color(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    n, channels = x.shape[0], x.shape[1]
    dev = x.device

    def keep(values, identity):
        return torch.where(torch.rand(n, device=dev) < p, values, torch.full_like(values, identity))

    brightness = keep(torch.randn(n, device=dev) * 0.2, 0.0)
    contrast = keep(torch.exp2(torch.randn(n, device=dev) * 0.5), 1.0)
    lumaflip = keep(torch.floor(torch.rand(n, device=dev) * 2), 0.0)
    hue = torch.zeros(n, device=dev)
    saturation = torch.ones(n, device=dev)
    if channels > 1:
        hue = keep((torch.rand(n, device=dev) * 2 - 1) * math.pi, 0.0)
        saturation = keep(torch.exp2(torch.randn(n, device=dev)), 1.0)
    return color_matrix(brightness, contrast, lumaflip, hue, saturation)


def apply_color(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """RGB: C[:3, :3] @ rgb + C[:3, 3]; one channel: the mean of C's colour rows, as ADA."""
    n, c, h, w = x.shape
    matrix = matrix.to(x.dtype)
    flat = x.reshape(n, c, h * w)
    if c == 3:
        out = matrix[:, :3, :3] @ flat + matrix[:, :3, 3:]
    elif c == 1:
        rows = matrix[:, :3, :].mean(dim=1, keepdim=True)
        out = flat * rows[:, :, :3].sum(dim=2, keepdim=True) + rows[:, :, 3:]
    else:
        raise ConfigError(f"trick=ada: colour transforms need RGB or grayscale images, got {c} channels")
    return out.reshape(n, c, h, w)


# ---- cutout ------------------------------------------------------------------------------------------


def cutout(x: torch.Tensor, p: torch.Tensor, size: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    dev = x.device
    side = torch.where(torch.rand(n, 1, 1, device=dev) < p, size, 0.0)
    cx, cy = torch.rand(n, 1, 1, device=dev), torch.rand(n, 1, 1, device=dev)
    xs = (torch.arange(w, device=dev).view(1, 1, w) + 0.5) / w
    ys = (torch.arange(h, device=dev).view(1, h, 1) + 0.5) / h
    keep = ((xs - cx).abs() >= side / 2) | ((ys - cy).abs() >= side / 2)
    return x * keep[:, None].to(x.dtype)


def augment(x: torch.Tensor, p: torch.Tensor, pipeline: tuple[str, ...]) -> torch.Tensor:
    if "blit" in pipeline:
        x = blit(x, **draw_blit(x, p))
    if "color" in pipeline:
        x = apply_color(x, draw_color(x, p))
    if "cutout" in pipeline:
        x = cutout(x, p)
    return x


# ---- the adaptive p ----------------------------------------------------------------------------------


def adjust_p(p: torch.Tensor, rt: torch.Tensor, images: torch.Tensor, target: float, speed_kimg: float):
    """ADA's step: p + sign(r_t - target) * images / (speed_kimg * 1000), clamped to [0, 1]."""
    return (p + torch.sign(rt - target) * images / (speed_kimg * 1000)).clamp(0, 1)


class ADA(Trick):
    def __init__(
        self,
        target: float = 0.6,
        speed_kimg: float = 500.0,
        interval: int = 4,
        initial_p: float = 0.0,
        pipeline: str = "blit,color",
    ):
        super().__init__()
        self.pipeline = tuple(filter(None, pipeline.split(",")))
        unknown = [name for name in self.pipeline if name not in PIPELINES]
        if unknown or not self.pipeline:
            raise ConfigError(f"trick.ada.pipeline={pipeline!r}: choose a comma list of {list(PIPELINES)}")
        if interval < 1 or speed_kimg <= 0:
            raise ConfigError("trick.ada: interval must be at least 1 and speed_kimg above 0")
        self.target, self.speed_kimg, self.interval = target, speed_kimg, interval
        self.rt_kind = "absolute"
        self.iteration = 0
        self.register_buffer("p", torch.tensor(float(initial_p)))
        self.register_buffer("signs", torch.zeros(2))  # sum of sign(D(real)) and the number of reals
        self.register_buffer("rt", torch.zeros(()))

    def check(self, loss, tricks) -> None:
        super().check(loss, tricks)
        if loss.name not in RT_KIND:
            raise ConfigError(
                f"trick=ada cannot read D's verdict for loss={loss.name}; known: {sorted(RT_KIND)}"
            )
        if "label_flip" in tricks:
            raise ConfigError(
                "trick=ada reads sign(D(real)) as D calling a real image real, and trick=label_flip teaches "
                "D the opposite (real = 0); drop one of them"
            )
        self.rt_kind = RT_KIND[loss.name]

    def d_input(self, x: torch.Tensor, which: str) -> torch.Tensor:
        return augment(x, self.p, self.pipeline)

    def real_verdict(self, seen) -> torch.Tensor:
        """D's real logits less the boundary of 'real' for this loss."""
        real = seen.logits("real").detach().float()
        if self.rt_kind == "midpoint":
            return real - 0.5
        if self.rt_kind == "paired":
            return real - seen.logits("fake").detach().float()
        if self.rt_kind == "mean":
            return real - seen.logits("fake").detach().float().mean()
        return real

    def d_penalty(self, seen):
        verdict = self.real_verdict(seen)
        self.signs += torch.stack([torch.sign(verdict).sum(), verdict.new_tensor(verdict.numel())])
        return None

    def after_step(self, which: str, loss: torch.Tensor, module) -> None:
        if which == "d" and (self.iteration + 1) % self.interval == 0:
            self.update()

    @torch.no_grad()
    def update(self) -> None:
        """Move p by the signs gathered since the last update (on every rank: summed across them)."""
        total, count = all_reduce_sum(self.signs.clone()).unbind()
        rt = total / count.clamp_min(1)
        self.p.copy_(adjust_p(self.p, rt, count, self.target, self.speed_kimg))
        self.rt.copy_(torch.where(count > 0, rt, self.rt))
        self.signs.zero_()

    def metrics(self):
        return {"p": self.p, "rt": self.rt}
