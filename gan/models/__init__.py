"""Generators and discriminators. Each model's `conf/model/<name>.yaml` builds a pair by `_target_`.

Protocol: `G(z, cond=None) -> images in [-1, 1]`, `D(x, cond=None) -> logits of shape [N]`. A generator's
`condition` attribute says what `cond` is: "none", "label" (class ids) or "image" (a real batch, FashionGen).
A discriminator has the same attribute: "label" when it receives the class ids too. See gan/conditioning.py.
"""
