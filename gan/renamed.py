"""Config keys renamed since checkpoints were first written: an older checkpoint's config is read in today's
names (gan/checkpoint.py), and an old key on the command line is answered with its new name (gan/cli.py).
"""

#: old dotted key -> today's (one meaning per name)
RENAMED = {
    "num_samples": "grid_images",
    "data.num_samples": "data.dataset_size",
    "data.normalize": "data.pixel_range",
    "callbacks.fid.num_samples": "callbacks.fid.num_images",
    "trick.instance_noise.anneal_steps": "trick.instance_noise.anneal_iterations",
}
#: datamodules that moved to a module named for what it holds
MOVED = {
    "gan.data.tensor.DigitsDataModule": "gan.data.digits.DigitsDataModule",
    "gan.data.tensor.SyntheticDataModule": "gan.data.synthetic.SyntheticDataModule",
}


#: data keys the datamodules no longer take: the built datamodule knows them (synthetic data still takes its
#: own number of classes)
DERIVED = ("num_classes",)


def upgrade(config: dict) -> dict:
    """`config` (a resolved run config, changed in place) in today's key names; values are kept, but
    `data.normalize`'s boolean, which becomes the range it meant, and the DERIVED keys, which go."""
    for old, new in RENAMED.items():
        *parents, key = old.split(".")
        node = config
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            value = node.pop(key)
            if old == "data.normalize":
                value = [-1, 1] if value else [0, 1]
            node[new.rsplit(".", 1)[-1]] = value
    data = config.get("data")
    if isinstance(data, dict) and data.get("_target_") in MOVED:
        data["_target_"] = MOVED[data["_target_"]]
    if isinstance(data, dict) and not str(data.get("_target_")).endswith("SyntheticDataModule"):
        for key in DERIVED:
            data.pop(key, None)
    return config
