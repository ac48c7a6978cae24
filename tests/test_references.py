"""Five places where a numeric check against the authors' code found a difference (issue 39), each pinned
against the reference's own lines, copied below as the oracle with its source (repository, commit, file):

- C_T (Meehan et al. 2020): Z_U with their 0.5 continuity correction (matched);
- top-k (Sinha et al. 2020): k truncated as StudioGAN truncates it (matched);
- ResNet D: the shortcut sees the block's un-activated input, as SNGAN's chainer code (kept; mimicry's
  in-place ReLU feeds relu(x) to the shortcut of every block after the first);
- GANSpace directions: a randomized SVD (kept, its settings raised), bounded against an exact PCA;
- the photo search's learning rate: StyleGAN2-ADA projector.py's ramps (matched).

    uv run pytest -n 0 -q tests/test_references.py      # ~15 s on 2 busy cores
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import mannwhitneyu
from sklearn.neighbors import NearestNeighbors as NN
from torch import nn

import gan.studio.directions as directions
from gan.metrics.copying import CopyingTest, z_u
from gan.models import dcgan, resnet
from gan.priors import sample_latent
from gan.studio import projection
from gan.tricks.top_k import TopK

# ---- 1. C_T: github.com/casey-meehan/data-copying @ a0ba2db, data_copying_tests.py (Zu, Zu_cells, C_T) ----


def Zu(Pn, Qm, T):  # noqa: N802, N803 - the reference's names
    m = Qm.shape[0]
    n = Pn.shape[0]

    # fit NN model to training sample to get distances to test and generated samples
    T_NN = NN(n_neighbors=1).fit(T)  # noqa: N806
    LQm, _ = T_NN.kneighbors(X=Qm, n_neighbors=1)  # noqa: N806
    LPn, _ = T_NN.kneighbors(X=Pn, n_neighbors=1)  # noqa: N806

    # Get Mann-Whitney U score and manually Z-score it using the conditions of null hypothesis H_0
    u, _ = mannwhitneyu(LQm, LPn, alternative="less")
    mean = (n * m / 2) - 0.5  # 0.5 is continuity correction
    std = np.sqrt(n * m * (n + m + 1) / 12)
    Z_u = (u - mean) / std  # noqa: N806
    return Z_u


def Zu_cells(Pn, Pn_cells, Qm, Qm_cells, T, T_cells):  # noqa: N802, N803
    k = len(np.unique(Pn_cells))
    Zu_cells = np.zeros(k)  # noqa: N806
    for i in range(k):
        Pn_cell_i = Pn[Pn_cells == i]  # noqa: N806
        Qm_cell_i = Qm[Qm_cells == i]  # noqa: N806
        T_cell_i = T[T_cells == i]  # noqa: N806
        if len(Pn_cell_i) * len(T_cell_i) == 0:
            raise ValueError(f"Cell {i} lacks test samples and/or training samples.")
        if len(Qm_cell_i) > 0:
            Zu_cells[i] = Zu(Pn_cell_i, Qm_cell_i, T_cell_i).item()  # .item(): numpy 2 refuses a [1] array
        else:
            Zu_cells[i] = 0
    return Zu_cells


def C_T(Pn, Pn_cells, Qm, Qm_cells, T, T_cells, tau):  # noqa: N802, N803
    m = Qm.shape[0]
    n = Pn.shape[0]
    k = np.max(np.unique(T_cells)) + 1  # number of cells
    labels, cts = np.unique(Qm_cells, return_counts=True)
    Qm_cts = np.zeros(k)  # noqa: N806
    Qm_cts[labels.astype(int)] = cts
    Qm_of_pi = Qm_cts / m  # noqa: N806
    Pi_tau = Qm_of_pi > tau  # noqa: N806
    labels, cts = np.unique(Pn_cells, return_counts=True)
    Pn_cts = np.zeros(k)  # noqa: N806
    Pn_cts[labels.astype(int)] = cts
    Pn_of_pi = Pn_cts / n  # noqa: N806
    Zu_scores = Zu_cells(Pn, Pn_cells, Qm, Qm_cells, T, T_cells)  # noqa: N806
    return Pn_of_pi[Pi_tau].dot(Zu_scores[Pi_tau]) / np.sum(Pn_of_pi[Pi_tau])


def copying_inputs():
    rng = torch.Generator().manual_seed(0)
    train, test = torch.randn(1500, 6, generator=rng), torch.randn(200, 6, generator=rng)
    fake = torch.cat(
        [train[:150] + 0.3 * torch.randn(150, 6, generator=rng), torch.randn(250, 6, generator=rng)]
    )
    return train, test, fake


def test_z_u_is_meehans_zu_with_its_continuity_correction():
    train, test, fake = copying_inputs()
    near = CopyingTest(train, test, cells=1)  # one cell: the distances to the nearest of all training points
    fake_d = near.distances(fake.double(), torch.zeros(len(fake), dtype=torch.long))
    test_d = near.test_distances
    theirs = Zu(*(a.double().numpy() for a in (test, fake, train))).item()
    assert z_u(fake_d, test_d) == pytest.approx(theirs, abs=1e-9)
    assert theirs == pytest.approx(-3.91199, abs=1e-5)  # before, without the correction: -3.91224 (0.5 / std)


def test_c_t_is_meehans_c_t_on_the_same_cells():
    train, test, fake = copying_inputs()
    ours = CopyingTest(train, test, cells=4, min_fake=20)
    cells = [ours.train_cells.numpy(), ours.test_cells.numpy(), ours.assign(fake.double()).numpy()]
    counts = np.bincount(cells[2], minlength=4)
    assert counts.min() >= 20  # every cell counts in both: their share > tau, our count >= min_fake
    test, fake, train = (a.double().numpy() for a in (test, fake, train))
    theirs = C_T(test, cells[1], fake, cells[2], train, cells[0], tau=19.5 / 400)
    assert ours(torch.from_numpy(fake)) == pytest.approx(theirs, abs=1e-7)  # our cell shares are float32
    assert theirs == pytest.approx(-1.82877, abs=1e-5)  # before, without the correction: -1.83078


# ---- 2. top-k: github.com/POSTECH-CVLab/PyTorch-StudioGAN @ 947b35e, src/utils/losses.py (adjust_k),
# src/loader.py (inf_k = int(batch_size * topk_nu), once per epoch; topk starts at batch_size),
# src/worker.py (torch.topk(..., int(self.topk))) ----


def adjust_k(current_k, topk_gamma, inf_k):
    current_k = max(current_k * topk_gamma, inf_k)
    return current_k


@pytest.mark.parametrize(("gamma", "nu"), [(0.99, 0.5), (0.9, 0.25), (0.95, 0.7)])
def test_top_k_keeps_studiogans_truncated_k_every_epoch(gamma, nu):
    for batch in (5, 8, 13, 16, 64, 100, 128):
        trick, topk = TopK(gamma, nu), batch
        for epoch in range(300):
            trick.begin_epoch(epoch)
            k = len(trick.g_samples(torch.randn(batch, 1)))
            assert k == int(topk) >= max(1, int(nu * batch)), (batch, epoch)
            topk = adjust_k(current_k=topk, topk_gamma=gamma, inf_k=int(batch * nu))


def test_top_k_before_rounded_up_in_half_the_epochs():
    trick, rounded = TopK(0.99, 0.5), 0
    for epoch in range(70):  # 0.99^69 = 0.50: the decay, before the floor
        trick.begin_epoch(epoch)
        rounded += round(trick.fraction * 64) != len(trick.g_samples(torch.randn(64, 1)))
    assert rounded == 33  # each one sample more than StudioGAN's k


# ---- 3. the ResNet D block. SNGAN: github.com/pfnet-research/sngan_projection @ e84b1a5,
# dis_models/resblocks.py (chainer's F.relu is not in place, so `shortcut(x)` sees x). mimicry:
# github.com/kwotsin/mimicry @ a7fda06, torch_mimicry/modules/resblocks.py (DBlock: nn.ReLU(True) in
# `_residual`, which runs first, so `_shortcut(x)` sees relu(x)); spectral norm left out of both ----


class MimicryDBlock(nn.Module):
    def __init__(self, c1, c2, c_sc, downsample):
        super().__init__()
        self.c1, self.c2, self.c_sc, self.downsample = c1, c2, c_sc, downsample
        self.learnable_sc = c_sc is not None
        self.activation = nn.ReLU(True)

    def _residual(self, x):
        h = x
        h = self.activation(h)
        h = self.c1(h)
        h = self.activation(h)
        h = self.c2(h)
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h

    def _shortcut(self, x):
        if self.learnable_sc:
            x = self.c_sc(x)
            return F.avg_pool2d(x, 2) if self.downsample else x
        else:
            return x

    def forward(self, x):
        return self._residual(x) + self._shortcut(x)


def sngan_block(block, x, shortcut_input=None):
    """SNGAN's Block.__call__, residual(x) + shortcut(x), with chainer's out-of-place F.relu."""
    h = block.conv2(F.relu(block.conv1(F.relu(x))))
    h = F.avg_pool2d(h, 2) if block.downsample else h
    sc = x if shortcut_input is None else shortcut_input
    if block.shortcut is not None:
        sc = block.shortcut(sc)
        sc = F.avg_pool2d(sc, 2) if block.downsample else sc
    return h + sc


@pytest.mark.parametrize(("cin", "cout", "down"), [(8, 8, True), (8, 8, False), (8, 16, False)])
@torch.no_grad()
def test_d_block_shortcut_sees_the_unactivated_input_as_sngan_not_mimicrys_relu(cin, cout, down):
    torch.manual_seed(0)
    block = resnet.DBlock(cin, cout, down)
    x = torch.randn(2, cin, 8, 8)  # a previous block's output: a sum, negative in places
    seen = []
    if block.shortcut is not None:
        block.shortcut.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    ours = block(x)
    assert torch.allclose(ours, sngan_block(block, x), atol=1e-6)
    if block.shortcut is not None:
        assert torch.equal(seen[0], x) and (x < 0).any()  # the shortcut's input: x itself, negatives kept
    mimicry = MimicryDBlock(block.conv1, block.conv2, block.shortcut, down)(x.clone())
    assert torch.allclose(mimicry, sngan_block(block, x, shortcut_input=F.relu(x)), atol=1e-6)
    assert (mimicry - ours).abs().mean() > 0.1 * ours.abs().mean()  # a different function of x


@torch.no_grad()
def test_first_block_is_the_same_in_sngan_and_mimicry():
    torch.manual_seed(0)  # the optimized block convolves x first: no activation of x in either
    block, x = resnet.DBlock(3, 8, True, first=True), torch.randn(2, 3, 8, 8)
    h = F.avg_pool2d(block.conv2(F.relu(block.conv1(x))), 2)  # OptimizedBlock.residual
    assert torch.allclose(block(x), h + block.shortcut(F.avg_pool2d(x, 2)), atol=1e-6)  # + shortcut(x)


# ---- 4. GANSpace: github.com/harskish/ganspace @ 5a704c4 fits sklearn's IncrementalPCA by default
# (config.py --est ipca; estimators.py IPCAEstimator) over 300,000 samples, which converges to the exact PCA;
# we fit a seeded randomized SVD over 2,000-10,000 (an exact SVD of the studio's 4096 x 8192 activations takes
# minutes on 2 cores), bounded here against an exact PCA of the same sample. (IncrementalPCA itself, at
# batch_size=max(100, 2 * 20) on this sample, matched only 4 of the 20 directions to 0.99, in 28 s.) ----


def exact_pca(x, k):  # the oracle: eigenvectors of X^T X (features x features) in double precision
    evals, vectors = torch.linalg.eigh((x.T @ x).double())
    return evals.flip(0)[:k].sqrt(), vectors.flip(1)[:, :k]


@pytest.fixture(scope="module")
def activations():
    """The studio's sample for a seeded 32 px DCGAN (latent 32): 10,000 x 1024 activations of `net.2`, whose
    spectrum is flat (the top 20 components hold 3.3% down to 2.1% of the variance each)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = dcgan.Generator(latent_dim=32, image_size=32, ngf=16).eval()
    layer = directions.probe_layer(generator, "gaussian", 32, None)
    z = sample_latent("gaussian", 10_000, 32, generator=torch.Generator().manual_seed(0))
    return generator, directions.centred(directions.activations(generator, layer, z, None), None)


def test_principal_components_agree_with_an_exact_pca(activations, monkeypatch):
    _, x = activations
    s_exact, v_exact = exact_pca(x, 20)
    s, v = directions.principal_components(x, 20)
    assert (v.double() * v_exact).sum(0).abs().min() > 0.99  # each of the 20 directions, up to sign
    assert torch.allclose(s.double(), s_exact, rtol=1e-3)
    monkeypatch.setattr(directions, "OVERSAMPLE", 10)  # the settings before issue 39
    monkeypatch.setattr(directions, "POWER_ITERATIONS", 4)
    _, v_before = directions.principal_components(x, 20)
    assert int(((v_before.double() * v_exact).sum(0).abs() < 0.99).sum()) == 8  # 8 of 20 were off (to 0.30)


def test_latent_directions_are_those_of_an_exact_pca(activations, monkeypatch):
    generator, _ = activations
    ours = directions.compute(generator, "gaussian", 32, lambda n: None)
    monkeypatch.setattr(directions, "principal_components", lambda x, k: [a.float() for a in exact_pca(x, k)])
    exact = directions.compute(generator, "gaussian", 32, lambda n: None)
    assert (ours.vectors * exact.vectors).sum(1).abs().min() > 0.99


# ---- 5. the photo search's learning rate: github.com/NVlabs/stylegan2-ada-pytorch @ d72cc7d, projector.py
# (project(): lr_rampdown_length = 0.25, lr_rampup_length = 0.05) ----


def projector_lr(step, num_steps, initial_learning_rate, lr_rampdown_length=0.25, lr_rampup_length=0.05):
    t = step / num_steps
    lr_ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
    lr_ramp = 0.5 - 0.5 * np.cos(lr_ramp * np.pi)
    lr_ramp = lr_ramp * min(1.0, t / lr_rampup_length)
    lr = initial_learning_rate * lr_ramp
    return lr


def test_search_learning_rate_is_projectors_ramp():
    for steps in (1, 7, 60, 200, 1000):
        for step in range(steps):
            assert projection.learning_rate(0.2, step, steps) == pytest.approx(projector_lr(step, steps, 0.2))
    at = {step: projection.learning_rate(0.2, step, 60) for step in (0, 1, 3, 30, 45, 50, 59)}
    assert at == pytest.approx({0: 0, 1: 0.2 / 3, 3: 0.2, 30: 0.2, 45: 0.2, 50: 0.15, 59: 0.002185}, abs=1e-6)
    # before, a cosine from 0.2 to 0: 0.2 at step 0, 0.1 at step 30, 0.0134 at step 50


class Tiny(nn.Sequential):
    def forward(self, x, cond=None):  # a G (z -> a 16 px image) or a D, unconditional
        out = super().forward(x)
        return out.view(-1, 3, 16, 16) if out.shape[1:] == (768,) else out.flatten(1).sum(1)


def test_the_search_steps_at_those_rates(monkeypatch):
    rates = []
    step = projection.Adam.step
    monkeypatch.setattr(projection.Adam, "step", lambda self: rates.append(self.lr) or step(self))
    torch.manual_seed(0)
    generator, discriminator = (
        Tiny(nn.Linear(8, 3 * 16 * 16), nn.Tanh()),
        Tiny(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 8)),
    )
    photo = torch.rand(3, 16, 16) * 2 - 1
    settings = projection.Settings(candidates=8, steps=20, lr=0.1)
    result = projection.project(generator, discriminator, photo, "gaussian", 8, None, settings)
    assert result.steps == 20 and rates == pytest.approx([projector_lr(s, 20, 0.1) for s in range(20)])
