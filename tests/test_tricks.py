"""Every trick's numbers, refusals of meaningless combinations, and trick state through checkpoints."""

import pytest
import torch

from gan.build import build_module
from gan.errors import ConfigError
from gan.losses import Targets
from gan.run.train import train
from gan.step import FeatureTaps, Seen
from gan.tricks.d_pause import DPause
from gan.tricks.diffaugment import diff_augment
from gan.tricks.ema import EMA, ema_update, ramped_decay
from gan.tricks.feature_matching import feature_matching_loss
from gan.tricks.historical_averaging import HistoricalAveraging
from gan.tricks.instance_noise import InstanceNoise, noise_sigma
from gan.tricks.label_flip import LabelFlip
from gan.tricks.label_smoothing import LabelSmoothing
from gan.tricks.n_critic import NCritic
from gan.tricks.noisy_labels import NoisyLabels
from gan.tricks.r1 import R1, gradient_penalty
from gan.tricks.r2 import R2
from tests.conftest import fit, smoke

LIKE = torch.zeros(10_000)


def test_label_smoothing_fixed_and_range():
    t = LabelSmoothing(low=0.9).targets(Targets.default(LIKE))
    assert torch.all(t.real == 0.9) and torch.all(t.fake == 0) and torch.all(t.g == 1)
    t = LabelSmoothing(low=0.7, high=1.2).targets(Targets.default(LIKE))
    assert t.real.min() >= 0.7 and t.real.max() <= 1.2 and abs(t.real.mean().item() - 0.95) < 0.01
    assert torch.all(LabelSmoothing(low=0.9, smooth_g_target=True).targets(Targets.default(LIKE)).g == 0.9)


def test_label_flip_with_jitter():
    t = LabelFlip(jitter=0.01).targets(Targets.default(LIKE))
    assert t.real.min() >= 0 and t.real.max() <= 0.01
    assert t.fake.min() >= 0.99 and t.fake.max() <= 1 and torch.all(t.g == 0)
    exact = LabelFlip(jitter=0).targets(Targets.default(LIKE))
    assert torch.all(exact.real == 0) and torch.all(exact.fake == 1)


def test_noisy_labels_flip_the_asked_fraction():
    t = NoisyLabels(p=0.1).targets(Targets.default(LIKE))
    assert abs((t.real == 0).float().mean().item() - 0.1) < 0.015
    assert abs((t.fake == 1).float().mean().item() - 0.1) < 0.015


def test_instance_noise_sigma_schedule():
    assert noise_sigma(0, 0.2, 0) == noise_sigma(10_000, 0.2, 0) == 0.2  # S1: fixed
    assert [noise_sigma(i, 0.1, 1000) for i in (0, 500, 1000, 2000)] == [0.1, 0.05, 0.0, 0.0]  # S3: annealed
    trick = InstanceNoise(sigma=0.5, anneal_iterations=0)
    x = torch.zeros(200_000)
    assert abs(trick.d_input(x, "real").std().item() - 0.5) < 0.01
    trick = InstanceNoise(sigma=0.5, anneal_iterations=10)
    trick.begin_iteration(10)
    assert torch.equal(trick.d_input(x, "fake"), x) and trick.metrics()["sigma"] == 0.0


def test_d_pause_fraction_on_scripted_losses():
    trick = DPause(ratio=0.7, momentum=0.0)  # momentum 0: the running mean is the last value
    script = [(0.5, 1.0), (0.9, 1.0), (0.6, 1.0), (0.8, 1.0)]  # paused after 1st and 3rd (d < 0.7 g)
    decisions = []
    for d, g in script:
        decisions.append(trick.should_step_d())
        trick.after_step("d", torch.tensor(d), None)
        trick.after_step("g", torch.tensor(g), None)
    decisions.append(trick.should_step_d())
    assert decisions == [True, False, True, False, True]
    assert trick.metrics()["paused_fraction"].item() == pytest.approx(2 / 5)


def test_n_critic_steps_g_every_nth_iteration():
    trick = NCritic(n=3)
    steps = []
    for i in range(6):
        trick.begin_iteration(i)
        steps.append(trick.should_step_g())
    assert steps == [False, False, True, False, False, True]


def test_ema_weights_match_hand_computation():
    net = torch.nn.Linear(1, 1, bias=False)
    trick = EMA(decay=0.5)
    trick.setup(net, torch.nn.Identity())
    values = [1.0, 3.0, -1.0]
    expected = net.weight.item()
    for v in values:
        net.weight.data.fill_(v)
        ema_update(trick.average, net, 0.5)
        expected = 0.5 * expected + 0.5 * v
    assert trick.average.weight.item() == pytest.approx(expected)
    assert trick.sampling_generator(net, None) is trick.average


def test_gradient_penalty_of_quadratic_critic():
    class Square(torch.nn.Module):
        def forward(self, x, cond=None):
            return (x**2).flatten(1).sum(1)  # grad 2x, |grad|^2 = 4 |x|^2

    x = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    assert gradient_penalty(Square(), x).item() == pytest.approx((4 * 5 + 4 * 9) / 2)


def test_diffaugment_keeps_shape_and_changes_pixels():
    x = torch.rand(8, 3, 16, 16)
    for policy in ("color", "translation", "cutout"):
        y = diff_augment(x, policy)
        assert y.shape == x.shape and not torch.equal(x, y)


@pytest.mark.parametrize(
    "loss, trick", [("hinge", "label_smoothing"), ("wgan_gp", "label_flip"), ("hinge", "noisy_labels")]
)
def test_label_tricks_refused_with_target_free_losses(loss, trick, tmp_path):
    with pytest.raises(ConfigError, match=f"trick={trick}.*loss={loss}"):
        build_module(smoke(f"loss={loss}", f"trick={trick}", output_dir=tmp_path))


def test_d_pause_refused_with_n_critic(tmp_path):
    with pytest.raises(ConfigError, match="d_pause.*n_critic"):
        build_module(smoke("trick=[d_pause,n_critic]", output_dir=tmp_path))


def test_paused_d_keeps_weights_bit_for_bit(tmp_path):
    cfg = smoke("trick=d_pause", output_dir=tmp_path)
    module = build_module(cfg)
    pause = module.tricks["d_pause"]
    pause.seen.fill_(1)
    pause.d_mean.fill_(0.1)
    pause.g_mean.fill_(10.0)  # D far ahead: paused
    d0 = [p.detach().clone() for p in module.discriminator.parameters()]
    fit(module, cfg)
    assert all(torch.equal(a, b) for a, b in zip(d0, module.discriminator.parameters(), strict=True))
    assert (module.d_steps, module.g_steps) == (0, 1)


@pytest.mark.slow
def test_trick_state_survives_checkpoint_round_trip(tmp_path):
    overrides = ["trick=[instance_noise,d_pause,ema]", "trick.instance_noise.anneal_iterations=10"]
    train(smoke(*overrides, output_dir=tmp_path))
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    fresh = build_module(smoke(*overrides, output_dir=tmp_path))
    fresh.load_state_dict(state)
    fresh.on_load_checkpoint(ckpt)
    assert fresh.iteration == 2
    fresh.tricks["instance_noise"].begin_iteration(fresh.iteration)
    assert fresh.tricks["instance_noise"].current_sigma() == pytest.approx(0.2 * 0.8)
    assert fresh.tricks["d_pause"].seen.item() == 2
    assert torch.equal(fresh.tricks["d_pause"].d_mean, state["tricks.d_pause.d_mean"])
    ema_keys = [k for k in state if k.startswith("tricks.ema.average.")]
    assert ema_keys and all(torch.equal(fresh.state_dict()[k], state[k]) for k in ema_keys)


@pytest.mark.parametrize(
    "trick",
    [
        "label_smoothing",
        "label_flip",
        "noisy_labels",
        "instance_noise",
        "d_pause",
        "ema",
        "diffaugment",
        "r1",
        "n_critic",
    ],
)
@pytest.mark.slow
def test_every_trick_trains(trick, tmp_path):
    train(smoke(f"trick={trick}", "callbacks=none", output_dir=tmp_path))


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan", "hinge", "wgan_gp"])
@pytest.mark.slow
def test_every_loss_trains(loss, tmp_path):
    train(smoke(f"loss={loss}", "callbacks=none", output_dir=tmp_path))


@pytest.mark.slow
def test_s1_lr_decay_is_085_per_10k_steps(tmp_path):
    module = build_module(smoke("optim=adam_decay", output_dir=tmp_path))
    (opt_g, opt_d), (sched_g, _) = module.configure_optimizers()
    assert opt_g.param_groups[0]["betas"] == (0.9, 0.999) and opt_g.param_groups[0]["lr"] == 1e-4
    for _ in range(10_000):
        sched_g.step()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.85e-4, rel=1e-6)


def test_ttur_and_adam_sgd(tmp_path):
    opt_g, opt_d = build_module(smoke("optim=ttur", output_dir=tmp_path)).configure_optimizers()
    assert (opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]) == (1e-4, 4e-4)
    opt_g, opt_d = build_module(smoke("optim=adam_sgd", output_dir=tmp_path)).configure_optimizers()
    assert isinstance(opt_g, torch.optim.Adam) and isinstance(opt_d, torch.optim.SGD)


def test_r2_penalises_d_gradient_at_the_fakes():
    class Square(torch.nn.Module):
        def forward(self, x, cond=None):
            return (x**2).flatten(1).sum(1)

    real, fake = torch.zeros(2, 2), torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    seen = Seen(real, fake, None, Square(), FeatureTaps(Square(), []))
    r2 = R2(gamma=2.0, interval=4)
    r2.begin_iteration(0)
    assert r2.d_penalty(seen).item() == pytest.approx(0.5 * 2.0 * 4 * (4 * 5 + 4 * 9) / 2)
    r2.begin_iteration(1)
    assert r2.d_penalty(seen) is None  # lazy: only every 4th iteration
    r1 = R1(gamma=2.0, interval=1)
    r1.begin_iteration(0)
    assert r1.d_penalty(seen).item() == 0.0  # R1 looks at the (zero) reals


def test_feature_matching_distance_of_batch_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean [2, 3]
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean [1, 1]
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(1 + 4)
    loss.backward()
    assert torch.allclose(fake.grad, torch.tensor([[-1.0, -2.0], [-1.0, -2.0]]))  # 2(mean_f - mean_r)/N


def test_historical_averaging_pulls_towards_the_mean_of_past_weights():
    g, d = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    g.weight.data.fill_(1.0)
    trick = HistoricalAveraging(weight=0.5)
    trick.setup(g, d)
    for value in (3.0, 5.0):  # history 1, 3, 5: mean 3
        g.weight.data.fill_(value)
        trick.after_step("g", torch.zeros(()), None)
    assert trick.means("g")[0].item() == pytest.approx(3.0)
    g.weight.data.fill_(7.0)
    assert trick.g_penalty(None).item() == pytest.approx(0.5 * (7 - 3) ** 2)
    state = trick.state_dict()
    assert "g_mean_0" in state and state["count"].tolist() == [0, 2]


@pytest.mark.slow
def test_ema_batchnorm_statistics_describe_the_averaged_weights(tmp_path):
    cfg = smoke("trick=ema", "trick.ema.decay=0.5", output_dir=tmp_path)
    module = build_module(cfg)
    fit(module, cfg, iterations=2)
    average = module.sampling_generator()  # recalibrated: the weights changed since
    norms = [m for m in average.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.setdefault(m, a[0].detach())) for m in norms]
    average.train()
    with torch.no_grad():
        average(module.sample_latent(2048))
    average.eval()
    for h in hooks:
        h.remove()
    for m in norms:
        x = seen[m].transpose(0, 1).flatten(1)
        spread = x.std(1).mean()
        assert (m.running_mean - x.mean(1)).abs().max() < 0.1 * spread
        assert torch.allclose(m.running_var, x.var(1), rtol=0.15)
    # G's own statistics belong to G's weights and differ from the average's
    g_norms = [m for m in module.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not torch.allclose(g_norms[0].running_mean, norms[0].running_mean, atol=1e-3)
    ema = module.tricks["ema"]
    assert ema.state_dict()["calibrated_at"] == ema.state_dict()["updates"] == 2


def test_ema_decay_ramps_up():
    assert ramped_decay(0.999, 0) == 0.0  # the first update copies G
    assert ramped_decay(0.999, 600) == pytest.approx(0.5 ** (1 / 30))  # half-life: 5% of 600 updates
    assert ramped_decay(0.999, 10**6) == 0.999
    assert ramped_decay(0.9, 10**6, rampup=0) == 0.9
