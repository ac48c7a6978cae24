"""Does G copy its training images? The C_T statistic of Meehan, Chaudhuri and Dasgupta 2020 ("A
Non-Parametric Test to Detect Data-Copying in Generative Models", AISTATS), logged as `val/copying`.

In a feature space (the self-supervised encoder or the domain classifier), the training features are cut
into cells by k-means. In each cell, every generated sample and every held-out real image gets its
distance to the nearest training image of the cell, and a Mann-Whitney U test compares the two sets of
distances, z-scored under "same distribution" (Z_U, with the authors' 0.5 continuity correction as in their
`Zu`, github.com/casey-meehan/data-copying data_copying_tests.py; pinned in tests/test_references.py). C_T
is the average of the cells' Z_U weighted by the share of held-out images in each cell, over the cells
holding at least `min_fake` samples (the paper's Pi_tau, there a share of the samples). About 0: samples
are as far from the training images as new real images are. Clearly negative (below -3 or so): samples sit
closer to training images than unseen real images do, i.e. copies or near-copies. Clearly positive: samples
far from the data (underfitting, or simply poor samples).

It needs held-out real images the generator never saw (gan.data: `held_out_dataset()`; for folders
`data.held_out`); without them there is no `val/copying`.

    from gan.metrics.copying import CopyingTest
    test = CopyingTest(train_features, held_out_features)
    test(sample_features)   # C_T
"""

import torch
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans


def nearest_distances(points: torch.Tensor, reference: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """L2 distance of every point to its nearest reference point."""
    return torch.cat([torch.cdist(part, reference).min(1).values for part in points.split(chunk)])


def z_u(fake: torch.Tensor, test: torch.Tensor) -> float:
    """Mann-Whitney U of the samples' distances against the held-out images', z-scored under H0 with the
    authors' 0.5 continuity correction (their `Zu`: mean m*n/2 - 0.5, the one-sided "less" test's)."""
    m, n = len(fake), len(test)
    u = mannwhitneyu(fake.numpy(), test.numpy()).statistic  # pairs with fake distance > test distance
    return float((u - (m * n / 2 - 0.5)) / (m * n * (m + n + 1) / 12) ** 0.5)


def default_cells(num_test: int) -> int:
    """About 25 held-out images per cell, 1 to 50 cells."""
    return max(1, min(50, num_test // 25))


class CopyingTest:
    def __init__(
        self,
        train: torch.Tensor,
        test: torch.Tensor,
        cells: int | None = None,
        min_fake: int = 20,
        seed: int = 0,
    ):
        self.train, self.test, self.min_fake = train.double(), test.double(), min_fake
        self.cells = cells or default_cells(len(test))
        self.kmeans = KMeans(self.cells, n_init=3, random_state=seed).fit(self.train.numpy())
        self.train_cells = torch.as_tensor(self.kmeans.labels_)
        self.test_cells = self.assign(self.test)
        self.test_distances = self.distances(self.test, self.test_cells)

    def assign(self, features: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.kmeans.predict(features.numpy()))

    def distances(self, features: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Each point's distance to the nearest training point of its own cell."""
        out = torch.empty(len(features), dtype=torch.float64)
        for cell in cells.unique():
            mine = cells == cell
            out[mine] = nearest_distances(features[mine], self.train[self.train_cells == cell])
        return out

    def __call__(self, fake: torch.Tensor) -> float | None:
        """C_T of these samples' features; None when no cell holds enough samples and held-out images."""
        fake = fake.double()
        fake_cells = self.assign(fake)
        fake_distances = self.distances(fake, fake_cells)
        total = weight = 0.0
        for cell in range(self.cells):
            in_fake, in_test = fake_cells == cell, self.test_cells == cell
            if int(in_fake.sum()) < self.min_fake or int(in_test.sum()) == 0:
                continue
            share = float(in_test.float().mean())
            total += share * z_u(fake_distances[in_fake], self.test_distances[in_test])
            weight += share
        return total / weight if weight > 0 else None
