"""Sample new designs from a checkpoint alone (the run's config travels inside it).

    python -m gan.generate ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt num_images=64
    python -m gan.generate ckpt_path=... mode=interpolate steps=10 rows=4    # latent walks (slerp)
    python -m gan.generate ckpt_path=... label=7 individual=true            # conditional: one class
    python -m gan.generate ckpt_path=... latents=designs/latents.json       # the studio's designs, exactly
    python -m gan.generate ckpt_path=... sampler=truncation sampler.psi=0.7 # quality over variety
    python -m gan.generate ckpt_path=... psi=0.7                            # the same (the studio's variety)

Writes `grid.png` (or `interpolation.png`) and, with individual=true, `images/00000.png`... to out_dir
(default: a `generated/` folder beside the checkpoint's run dir). EMA weights are used when the run had them.
Which latents G draws is the `sampler` group (conf/sampler/, gan/samplers/); `psi=` truncates any sampler's.
"""

from pathlib import Path

import torch

from gan.checkpoint import identity, load_checkpoint, load_discriminator, load_generator
from gan.cli import arguments, run_tool
from gan.conditioning import condition_of, draw_condition
from gan.designs import TRUNCATABLE, between, latent_of, png_bytes, read_latents, render_one
from gan.errors import ConfigError
from gan.paths import run_dir_of
from gan.pixels import to_unit
from gan.samplers import Models, Sampler, build
from gan.samplers.plain import Plain

MAX_GRID = 1024  # images in one grid at most; a larger request also writes every image on its own


def condition_for(generator, state: dict, n: int, label: int | None) -> torch.Tensor | None:
    """Classes in turn (or the one `label`), or the run's fixed conditioning images in turn."""
    kind = condition_of(generator)
    classes = state["fixed_labels"].unique()
    if label is not None and kind != "label":
        raise ConfigError(f"label={label}: this model is not conditioned on classes (condition={kind})")
    if label is not None and label not in classes.tolist():
        raise ConfigError(f"label={label}: this model was trained on classes {classes.tolist()}")
    return draw_condition(kind, n, classes, state["fixed_images"], label=label)


def check_args(args: dict) -> None:
    """One-line errors for every option, before the checkpoint is read."""
    for key, least in (("num_images", 1), ("steps", 2), ("rows", 1), ("chunk", 1)):
        if not isinstance(args[key], int) or args[key] < least:
            raise ConfigError(f"{key}={args[key]!r}: must be an integer >= {least}")
    if args["mode"] not in ("grid", "interpolate"):
        raise ConfigError(f"mode={args['mode']!r}: allowed values are grid, interpolate")
    if args["latents"] and args["label"] is not None:
        raise ConfigError("label= and latents= together: each design in the latents file names its class")
    if not isinstance(args["psi"], int | float) or not 0 <= args["psi"] <= 1:
        raise ConfigError(f"psi={args['psi']!r}: the truncation must be a number from 0 to 1 (1: none)")
    if args["latents"] and args["psi"] != 1:
        raise ConfigError("psi= and latents= together: each design in the latents file records its psi")


def writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"out_dir={path}: cannot write there ({err.strerror}); pass out_dir=...") from None
    return path


def sampler_of(args: dict) -> Sampler:
    """The request's sampler (conf/sampler/); `psi=` sets its truncation, as the studio's variety does."""
    sampler = build(args["sampler"])
    if args["psi"] != 1:
        if sampler.psi != 1:
            raise ConfigError(f"psi={args['psi']} and sampler.psi={sampler.psi} together: pass one of them")
        sampler = sampler.but(psi=args["psi"])
    if args["latents"] and not isinstance(sampler, Plain):
        raise ConfigError("sampler= and latents= together: the latents file holds each design's latent")
    return sampler


def models_for(sampler: Sampler, ckpt: dict, generator, device: torch.device) -> Models:
    """What the sampler may look at: D only for a sampler that reads it. Truncation needs a centred prior."""
    prior = ckpt["config"]["model"]["prior"]
    if sampler.psi != 1 and prior not in TRUNCATABLE:
        raise ConfigError(
            f"psi={sampler.psi:g}: truncation needs a Gaussian or uniform prior; this model's is {prior}"
        )
    discriminator = load_discriminator(ckpt).to(device) if sampler.uses_discriminator else None
    return Models(generator, prior, ckpt["config"]["model"]["latent_dim"], discriminator)


def latents(args: dict, sampler: Sampler, models: Models, cond) -> tuple[torch.Tensor, int]:
    """All latent vectors of the request (small: latent_dim floats each), as G takes them, and the grid's
    row length. `cond`: each image's condition (None: unconditional); a walk's ends are drawn with their
    images' conditions."""
    gen = torch.Generator().manual_seed(args["seed"])
    if args["mode"] == "grid":
        n = args["num_images"]
        return sampler.latents(models, n, gen, cond), max(1, int(min(n, MAX_GRID) ** 0.5))
    rows, steps = args["rows"], args["steps"]
    ends = (None, None) if cond is None else (cond[::steps], cond[steps - 1 :: steps])
    a, b = sampler.draw(models, rows, gen, ends[0]), sampler.draw(models, rows, gen, ends[1])
    path = torch.cat([between(models.prior, a[i], b[i], steps) for i in range(rows)])
    return sampler.transform(models.prior, path), steps


def describe(made_by: dict) -> str:
    return f"{made_by.get('model')} at {made_by.get('image_size')} px, iteration {made_by.get('iteration')}"


def check_identity(args: dict, data: dict, mine: dict) -> dict:
    """Designs drawn by another generator than theirs would not be theirs: refused unless force=true."""
    made_by = data.get("generator")
    if made_by is None:
        print(f"note: latents={args['latents']} does not say which generator made them; drawing them anyway")
    elif made_by.get("digest") != mine["digest"]:
        message = (
            f"latents={args['latents']} were made by another generator ({describe(made_by)}, weights "
            f"{made_by.get('digest')}) than ckpt_path={args['ckpt_path']} ({describe(mine)}, weights "
            f"{mine['digest']}), so the images would differ"
        )
        if not args["force"]:
            raise ConfigError(f"{message}. Pass the checkpoint that made them, or force=true to draw anyway")
        print(f"warning: {message}; drawing them anyway (force=true)")
    return mine


def design_latent(design: dict, i: int, data: dict, prior: str, dim: int, where: str) -> torch.Tensor:
    """What G draws for design i of a latents file: psi * z plus its steps, with the file's own direction
    vectors (gan/designs.py); a design without psi and steps (older files) is its z."""
    z = torch.tensor(design.get("z") or [], dtype=torch.float32)
    if z.shape != (dim,):
        raise ConfigError(f"{where}: design {i} has {z.numel()} numbers, G takes {dim}")
    psi, steps = design.get("psi", 1.0), design.get("steps") or []
    if not isinstance(psi, int | float) or not 0 <= psi <= 1 or (psi != 1 and prior not in TRUNCATABLE):
        raise ConfigError(f"{where}: design {i} has psi={psi!r}; it must be 0 to 1 (1 for a {prior} prior)")
    table = {}
    for d in data.get("directions") or []:
        table[d["index"]] = (torch.tensor(d["vector"], dtype=torch.float32), float(d["sigma"]))
    for step in steps:
        k, sigma = step.get("direction"), step.get("sigma")
        if k not in table or table[k][0].shape != (dim,) or not isinstance(sigma, int | float):
            raise ConfigError(
                f"{where}: design {i} steps along direction {k!r}, which the file does not hold"
            )
    return latent_of(prior, z, psi, steps, table)


@torch.no_grad()
def from_latents(args: dict, ckpt: dict, generator, out: Path) -> list[Path]:
    """The designs of a latents file (gan/designs.py), each rendered alone: the studio's pixels exactly."""
    data = read_latents(args["latents"])
    mine = check_identity(args, data, identity(ckpt, args["use_ema"]))
    data = {**data, "checkpoint": str(args["ckpt_path"]), "generator": mine}  # what the new PNGs carry
    dim, state = ckpt["config"]["model"]["latent_dim"], ckpt["state_dict"]
    prior, where = ckpt["config"]["model"]["prior"], f"latents={args['latents']}"
    (out / "images").mkdir(exist_ok=True)
    written = []
    for i, design in enumerate(data["designs"]):
        z = design_latent(design, i, data, prior, dim, where)
        label, image = design.get("label"), design.get("image")
        cond = condition_for(generator, state, 1, label)
        if image is not None:
            if not isinstance(image, int) or not 0 <= image < len(state["fixed_images"]):
                raise ConfigError(f"latents={args['latents']}: design {i} names conditioning image {image!r}")
            cond = state["fixed_images"][image : image + 1]
        name = Path(design.get("name") or f"{i:05d}.png").name
        written.append(out / "images" / name)
        pixels = render_one(generator, z, None if cond is None else cond[0])
        written[-1].write_bytes(png_bytes(pixels, {**data, "designs": [design]}))
    print(f"Wrote {len(written)} file(s) to {out / 'images'}")
    return written


@torch.no_grad()
def generate(args: dict) -> list[Path]:
    """Images in chunks of `chunk` (constant memory); the grid shows the first MAX_GRID of them, and a
    request larger than that is written as individual images too."""
    check_args(args)
    sampler = sampler_of(args)
    from torchvision.utils import make_grid, save_image  # here: the studio imports this module, not these

    ckpt = load_checkpoint(args["ckpt_path"])
    generator = load_generator(ckpt, args["use_ema"])
    state, device = ckpt["state_dict"], torch.device(args["device"])
    generator.to(device)
    out = writable_dir(Path(args["out_dir"] or run_dir_of(args["ckpt_path"]) / "generated"))
    if args["latents"]:
        return from_latents(args, ckpt, generator, out)
    models = models_for(sampler, ckpt, generator, device)
    count = args["num_images"] if args["mode"] == "grid" else args["rows"] * args["steps"]
    cond = condition_for(generator, state, count, args["label"])
    z, nrow = latents(args, sampler, models, cond)
    individual = args["individual"] or len(z) > MAX_GRID
    grid_images, written = [], []
    if individual:
        (out / "images").mkdir(exist_ok=True)
    for start in range(0, len(z), args["chunk"]):
        part = slice(start, start + args["chunk"])
        c = None if cond is None else cond[part].to(device)
        images = to_unit(generator(z[part].to(device), c).cpu())
        if start < MAX_GRID:
            grid_images.append(images[: MAX_GRID - start])
        for i, image in enumerate(images if individual else []):
            written.append(out / "images" / f"{start + i:05d}.png")
            save_image(image, written[-1])
    grid = out / ("grid.png" if args["mode"] == "grid" else "interpolation.png")
    save_image(make_grid(torch.cat(grid_images)[:MAX_GRID], nrow=nrow), grid)
    print(f"Wrote {len(written) + 1} file(s) to {out} ({sampler_line(args['sampler'], sampler)})")
    return [grid, *written]


def sampler_line(node: dict, sampler: Sampler) -> str:
    """`sampler=drs (burn_in=1000, ...)`: the sampler that drew these images, with its settings."""
    name = node["_target_"].rsplit(".", 2)[-2]
    settings = {k: v for k, v in node.items() if k != "_target_"} | {"psi": sampler.psi}
    return f"sampler={name} ({', '.join(f'{k}={v}' for k, v in settings.items())})"


def parse(argv: list[str]) -> dict:
    """gan.generate's options: conf/generate.yaml with `argv`'s overrides (`key=value`, Hydra's grammar)."""
    return arguments("generate", argv)


def main(argv: list[str] | None = None) -> None:
    run_tool("generate", __doc__, generate, argv)


if __name__ == "__main__":
    main()
