"""Several D steps per G step (WGAN's n_critic): G updates on one iteration out of every `n`."""

from gan.tricks.base import Trick


def g_steps_now(iteration: int, n: int) -> bool:
    return iteration % n == n - 1


class NCritic(Trick):
    def __init__(self, n: int = 5):
        super().__init__()
        self.n = self.d_steps_per_g = n
        self.iteration = 0

    def should_step_g(self) -> bool:
        return g_steps_now(self.iteration, self.n)
