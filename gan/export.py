"""Export a checkpoint's generator for use outside this framework: ONNX (onnxruntime, any language) or
TorchScript (libtorch, no Python classes of ours needed).

    python -m gan.export ckpt_path=<run>/checkpoints/last.ckpt format=onnx        # generator.onnx
    python -m gan.export ckpt_path=... format=torchscript use_ema=false out_dir=exported/

The exported graph takes `z` [batch, latent_dim] float32 (plus `label` [batch] int64 for class-conditional
models, or `condition` [batch, C, H, W] in [-1, 1] for FashionGen-style ones) and returns `image`
[batch, C, H, W] float32 in [0, 1]. The batch size is free; everything else is fixed. `generator.json`
beside it records the latent size, prior, inputs and class names.
"""

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from gan.checkpoint import has_ema, identity, load_checkpoint, load_generator
from gan.cli import run_tool
from gan.conditioning import condition_of
from gan.errors import ConfigError, require_extra
from gan.generate import writable_dir
from gan.paths import run_dir_of
from gan.pixels import to_unit

FORMATS = {"onnx": "generator.onnx", "torchscript": "generator.pt"}
CONDITION_INPUT = {"none": [], "label": ["label"], "image": ["condition"]}


class ImageGenerator(nn.Module):
    """G with its [-1, 1] output mapped to [0, 1], the range image libraries expect."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return to_unit(self.generator(z, cond))


def example_inputs(generator: nn.Module, ckpt: dict, batch: int = 2) -> tuple[torch.Tensor, ...]:
    z = torch.randn(batch, ckpt["config"]["model"]["latent_dim"])
    kind, state = condition_of(generator), ckpt["state_dict"]
    if kind == "label":
        return z, state["fixed_labels"][:1].repeat(batch)
    if kind == "image":
        return z, state["fixed_images"][:1].repeat(batch, 1, 1, 1)
    return (z,)


def export(args: dict) -> Path:
    if args["format"] not in FORMATS:
        raise ConfigError(f"format={args['format']!r}: allowed values are {', '.join(FORMATS)}")
    if args["format"] == "onnx":
        require_extra("onnx", "onnx", "onnxscript", what="format=onnx")
    ckpt = load_checkpoint(args["ckpt_path"])
    generator = load_generator(ckpt, args["use_ema"])
    model, inputs = ImageGenerator(generator).eval(), example_inputs(generator, ckpt)
    out = writable_dir(Path(args["out_dir"] or run_dir_of(args["ckpt_path"]) / "exported"))
    path = out / FORMATS[args["format"]]
    names = ["z", *CONDITION_INPUT[condition_of(generator)]]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # exporter chatter about internals a user cannot act on
        if args["format"] == "onnx":
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                model,
                inputs,
                path,
                input_names=names,
                output_names=["image"],
                dynamic_shapes=tuple({0: batch} for _ in inputs),
                dynamo=True,
                verbose=False,
                external_data=False,  # one file; G is far below ONNX's 2 GB limit
            )
        else:
            torch.jit.save(torch.jit.trace(model, inputs), path)
    (out / "generator.json").write_text(json.dumps(describe(ckpt, generator, args, names), indent=1))
    print(f"Wrote {path} and generator.json beside it")
    return path


def describe(ckpt: dict, generator: nn.Module, args: dict, names: list[str]) -> dict:
    config, state = ckpt["config"], ckpt["state_dict"]
    class_names = config.get("class_names") or []
    classes = state["fixed_labels"].unique().tolist() if condition_of(generator) == "label" else []
    return {
        "checkpoint": str(args["ckpt_path"]),
        "generator": identity(ckpt, bool(args["use_ema"])),
        "format": args["format"],
        "use_ema": bool(args["use_ema"]) and has_ema(ckpt),  # what was exported, not what was asked for
        "inputs": names,
        "output": "image [batch, C, H, W] float32 in [0, 1]",
        "latent_dim": config["model"]["latent_dim"],
        "prior": config["model"]["prior"],
        "classes": [{"id": c, "name": class_names[c] if c < len(class_names) else str(c)} for c in classes],
        # the graph cannot refuse a label: ids outside this list give undefined images (ONNX wraps -1)
        "label_ids": classes,
    }


def main(argv: list[str] | None = None) -> None:
    run_tool("export", __doc__, export, argv)


if __name__ == "__main__":
    main()
