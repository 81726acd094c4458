"""``--device``: resolving auto/cpu/cuda, training on an explicit device, resuming elsewhere."""

import pytest
import torch

from atmoscope._device import DEVICES, resolve_device
from atmoscope.cli import main
from atmoscope.data.splits import node_split
from atmoscope.errors import ConfigError
from atmoscope.models import load_model
from atmoscope.training import TrainConfig, Trainer
from atmoscope.workflows import train_bundle

GPU = torch.cuda.is_available()


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as a CPU-only one, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _no_gpu_message() -> str:
    version = torch.__version__.split("+")[0]
    build = ("CPU build" if torch.version.cuda is None
             else f"CUDA {torch.version.cuda} build, but no GPU or driver found")
    return f"--device cuda: no CUDA GPU is available (torch {version}, {build})"


def test_resolve_device(monkeypatch, no_gpu):
    assert DEVICES == ("auto", "cpu", "cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device() == resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda")
    assert str(info.value) == _no_gpu_message()
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")


def test_cuda_without_gpu_is_one_cli_error_line(no_gpu, tmp_path, capsys):
    """Said before the grid is read (the grid path here does not even exist)."""
    assert main(["train", "--grid", str(tmp_path / "absent.csv"), "--out",
                 str(tmp_path / "b"), "--device", "cuda"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {_no_gpu_message()}"]


def test_config_records_the_device_it_resolved(no_gpu):
    assert TrainConfig().device == "cpu"
    assert TrainConfig(model="resmlp", device="auto").resolved().device == "cpu"
    with pytest.raises(ConfigError, match="--device cuda: no CUDA GPU"):
        TrainConfig(model="resmlp", device="cuda").resolved()


def _config(device: str, **overrides) -> TrainConfig:
    return TrainConfig(**{"model": "resmlp", "epochs": 3, "seed": 5, "batch_size": 64,
                          "calibrate": False, "device": device, **overrides})


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not GPU, reason="no CUDA GPU"))])
def test_training_on_a_device_saves_a_cpu_bundle(small, tmp_path, device):
    bundle, _ = train_bundle(small, node_split(small, seed=1), _config(device),
                             tmp_path / "bundle", progress=False, snrs=())
    assert bundle.training["device"] == device
    assert all(p.device.type == "cpu" for p in bundle.model.parameters())
    loaded = load_model(tmp_path / "bundle")
    assert all(t.device.type == "cpu" for t in loaded.model.state_dict().values())
    assert loaded.training["device"] == device


def test_a_checkpoint_resumes_on_another_device(small, tmp_path, monkeypatch):
    """The device is not part of what a checkpoint must match: a run written on a GPU
    continues on the CPU (here: a CPU checkpoint relabelled as a GPU's)."""
    import atmoscope.training.trainer as trainer_module

    split, ckpt = node_split(small, seed=2), tmp_path / "ckpt.pt"
    real_save = trainer_module._atomic_save

    def save_as_gpu_then_die(obj, path):
        real_save({**obj, "config": {**obj["config"], "device": "cuda"}}, path)
        if obj["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "_atomic_save", save_as_gpu_then_die)
    with pytest.raises(KeyboardInterrupt):
        Trainer(_config("cpu"), checkpoint=ckpt, progress=False).fit(small, split)
    monkeypatch.setattr(trainer_module, "_atomic_save", real_save)
    resumed = Trainer(_config("cpu"), checkpoint=ckpt, progress=False).fit(
        small, split, resume=True)
    assert resumed.history_["epoch"] == [0, 1, 2]
    assert resumed.config_.device == "cpu"
