"""Training: architectures, the trainer and the model bundle (TelescopeML's DeepTrainer)."""

from atmoscope.training.bundle import ModelBundle, load_model
from atmoscope.training.models import MODELS, build_model, count_parameters, register_model
from atmoscope.training.trainer import TrainConfig, Trainer

__all__ = ["MODELS", "ModelBundle", "TrainConfig", "Trainer", "build_model",
           "count_parameters", "load_model", "register_model"]
