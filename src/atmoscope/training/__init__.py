"""Training (TelescopeML's DeepTrainer): the trainer and its training-data augmentation.

The networks, their registry and the model bundle are in :mod:`atmoscope.models`.
"""

from atmoscope.training.trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer"]
