"""gan.export: the exported generator gives PyTorch's images (in [0, 1]) for any batch size, in onnxruntime
and in TorchScript, from the checkpoint alone."""

import json

import numpy as np
import onnxruntime
import pytest
import torch

from gan.checkpoint import load_checkpoint, load_generator
from gan.errors import ConfigError
from gan.export import export
from gan.run.train import train
from tests.conftest import smoke

TOLERANCE = 1e-5  # absolute, on images in [0, 1]: float rounding between runtimes, far below 1/255


@pytest.fixture(scope="module", params=["dcgan", "cdcgan"])
def checkpoint(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    train(smoke(f"model={request.param}", "data.num_classes=3", "trick=ema", output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def reference(ckpt_path, z, label):
    generator = load_generator(load_checkpoint(str(ckpt_path)), use_ema=True)
    with torch.no_grad():
        return ((generator(z, label).clamp(-1, 1) + 1) / 2).numpy()


def inputs(checkpoint, batch: int):
    z = torch.randn(batch, 100, generator=torch.Generator().manual_seed(batch))
    conditional = "cdcgan" in checkpoint.parts[-3]
    return z, (torch.arange(batch) % 3 if conditional else None)


@pytest.mark.slow
def test_onnx_runs_in_onnxruntime_like_pytorch(checkpoint, tmp_path):
    path = export({"ckpt_path": str(checkpoint), "format": "onnx", "use_ema": True, "out_dir": str(tmp_path)})
    session = onnxruntime.InferenceSession(str(path))
    meta = json.loads((tmp_path / "generator.json").read_text())
    assert [i.name for i in session.get_inputs()] == meta["inputs"]
    for batch in (1, 5):
        z, label = inputs(checkpoint, batch)
        feed = {"z": z.numpy()} | ({} if label is None else {"label": label.numpy()})
        [images] = session.run(None, feed)
        assert images.shape == (batch, 3, 32, 32)
        assert np.abs(images - reference(checkpoint, z, label)).max() < TOLERANCE


def test_torchscript_loads_without_our_code_and_matches(checkpoint, tmp_path):
    path = export(
        {"ckpt_path": str(checkpoint), "format": "torchscript", "use_ema": True, "out_dir": str(tmp_path)}
    )
    scripted = torch.jit.load(str(path))
    z, label = inputs(checkpoint, 3)
    with torch.no_grad():
        images = (scripted(z) if label is None else scripted(z, label)).numpy()
    assert np.abs(images - reference(checkpoint, z, label)).max() < TOLERANCE


def test_bad_format_and_path_are_one_line_errors(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="format='tflite': allowed values are onnx, torchscript"):
        export({"ckpt_path": str(checkpoint), "format": "tflite", "use_ema": True, "out_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="no such checkpoint file"):
        export({"ckpt_path": str(tmp_path / "nope.ckpt"), "format": "onnx", "use_ema": True, "out_dir": None})
