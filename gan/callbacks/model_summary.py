"""The networks at the start of training, in one line: each one's class and parameter count.

Lightning's summary table also has a FLOPs column and total, which read 0 for every GAN here (Lightning counts
them on an example forward pass, which a GAN's two networks do not share), so it printed a false number.
"""

import logging
import warnings

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)


class NetworkSummary(ModelSummary):
    def _summary(self, trainer, pl_module):
        # mixed precision keeps fp32 weights, so Lightning's 32-bit fallback is the true size
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Precision .* is not supported by the model summary")
            return super()._summary(trainer, pl_module)

    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, *args, **kwargs) -> None:
        columns = dict(summary_data)
        nets = [
            f"{name} {kind} {params}"
            for name, kind, params in zip(columns["Name"], columns["Type"], columns["Params"], strict=True)
            if params.strip() != "0"
        ]
        trainable = get_human_readable_count(trainable_parameters)
        log.info("Networks: %s; %s trainable parameters (%.1f MB)", ", ".join(nets), trainable, model_size)
