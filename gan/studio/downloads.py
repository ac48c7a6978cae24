"""The studio's downloads: a design as a PNG (the model's size or 4x), the pins as a ZIP, and the latents
file inside both that `python -m gan.generate latents=...` redraws exactly (gan/designs.py).

    downloads = Downloads(studio)
    downloads.png({"z": [...], "label": 1, "name": "red heel"}, scale=4)   # PNG bytes
    downloads.zip([design, ...])                                            # ZIP bytes: PNGs + latents.json

Each design is rendered alone (`render_one`), so its pixels do not depend on what else was downloaded.
"""

import base64
import io
import json
import re
import zipfile

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gan.designs import PNG_KEY, png_bytes, render_one
from gan.studio.checks import BadRequest, whole

SCALES = (1, 4)  # PNG downloads: the model's size, or 4x by Lanczos resampling
MAX_PINS = 256  # designs in one ZIP


class Downloads:
    """The files of one studio's designs: checked by its `parse`, drawn by its generator."""

    def __init__(self, studio):
        self.studio = studio

    def png(self, design, scale=1) -> bytes:
        """One design rendered alone, at the model's size or 4x by Lanczos resampling (the pixels G drew,
        smoothed, no detail invented); its latents file rides in the PNG and redraws the model-size one."""
        studio = self.studio
        d, scale = studio.parse(design), 1 if scale in (None, "") else whole(scale, "scale", 1, max(SCALES))
        if scale not in SCALES:
            raise BadRequest(
                f"a PNG is downloaded at {' or '.join(f'{s}x' for s in SCALES)} the model's size"
            )
        latents = self.latents_file([{**studio.normal(d), "name": file_name(design, "design") + ".png"}])
        pixels = render_one(studio.generator, studio.latent(d), studio.tensor(d.cond))
        if scale == 1:
            return png_bytes(pixels, latents)
        return upscaled_png(
            pixels, scale, {**latents, "upscaled": {"factor": scale, "resampling": "Lanczos"}}
        )

    def zip(self, designs) -> bytes:
        """The pins as PNGs named after the pins ("photo 1" is photo_1.png) and one latents.json."""
        if not isinstance(designs, list) or not designs or len(designs) > MAX_PINS:
            raise BadRequest(f"pin at least one design (at most {MAX_PINS}) to download a set")
        studio, out, entries, taken = self.studio, io.BytesIO(), [], set()
        with zipfile.ZipFile(out, "w") as archive:
            for i, design in enumerate(designs):
                d = studio.parse(design)
                name = unique(file_name(design, f"design_{i:03d}"), taken) + ".png"
                title = design.get("name") if isinstance(design.get("name"), str) else None
                entries.append({**studio.normal(d), "name": name, **({"title": title[:80]} if title else {})})
                pixels = render_one(studio.generator, studio.latent(d), studio.tensor(d.cond))
                archive.writestr(entries[-1]["name"], png_bytes(pixels, self.latents_file(entries[-1:])))
            archive.writestr("latents.json", json.dumps(self.latents_file(entries), indent=1))
        return out.getvalue()

    def latents_file(self, designs: list[dict]) -> dict:
        """The designs with what redraws them: the generator's identity and the directions they step along
        or a designer named."""
        studio = self.studio
        data = {
            "format": 2,
            "checkpoint": studio.ckpt_path,
            "generator": studio.identity,
            "use_ema": studio.use_ema,
            "prior": studio.prior,
            "latent_dim": studio.latent_dim,
            "designs": designs,
        }
        used = {s["direction"] for d in designs for s in d.get("steps") or []}
        if studio._directions is not None:
            found = studio._directions[0]
            keep = sorted(used | {k for k, n in enumerate(found.names) if n})
            data["directions"] = [
                {
                    "index": k,
                    "name": found.names[k],
                    "sigma": found.sigmas[k].item(),
                    "vector": found.vectors[k].tolist(),
                }
                for k in keep
            ]
        return data


def file_name(design, fallback: str) -> str:
    """A pin's name as a file name: "photo 1" is photo_1; no name, or nothing usable in it, is `fallback`."""
    name = design.get("name") if isinstance(design, dict) else None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] if isinstance(name, str) else ""
    return stem or fallback


def unique(stem: str, taken: set) -> str:
    """`stem`, or `stem_2`, `stem_3`...: the first not yet in `taken` (compared ignoring case), now taken."""
    name, k = stem, 1
    while name.lower() in taken:
        k, name = k + 1, f"{stem}_{k + 1}"
    taken.add(name.lower())
    return name


def upscaled_png(pixels: torch.Tensor, factor: int, text: dict) -> bytes:
    """uint8 [H, W, C] pixels as a PNG `factor` times larger, by Lanczos resampling, `text` in its chunk."""
    array = pixels.numpy()
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    image = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
    info = PngInfo()
    info.add_text(PNG_KEY, json.dumps(text, allow_nan=False))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
