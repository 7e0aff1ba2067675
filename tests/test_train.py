"""Tests for mmtutorial.train.Trainer: fitting, evaluation, checkpoints and exact resume."""

import math
import os
import pathlib
import sys
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import mmtutorial
from mmtutorial import checkpoint
from mmtutorial.data import DeviceLoader
from mmtutorial.device import seed_everything
from mmtutorial.metrics import accuracy
from mmtutorial.train import Trainer, prefer_fused

N, D, BATCH = 100, 8, 16  # 7 batches per epoch, the last one of 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and a busy machine makes more threads far slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_data(n=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, D, generator=g)  # (N, D)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()  # (N,) linearly separable
    return X, y


def mlp(dropout=0.2, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def make_trainer(model=None, lr=0.05, **kwargs):
    model = mlp() if model is None else model
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    kwargs.setdefault("device", "cpu")
    return Trainer(model, opt, nn.CrossEntropyLoss(), **kwargs)


def loaders(shuffle=True, generator=None, batch_size=BATCH, n=N):
    X, y = toy_data(n)
    train = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle, generator=generator)
    val = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=batch_size)
    return train, val


# ------------------------------------------------------------------------------- fitting


def test_fit_learns_a_separable_problem():
    train, val = loaders()
    trainer = make_trainer(metrics={"acc": accuracy})
    history = trainer.fit(train, val, epochs=6)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_acc"][-1] > 0.9
    assert trainer.epoch == 6 and trainer.step == 6 * 7


def test_history_keys_and_lengths():
    train, val = loaders()
    trainer = make_trainer(metrics={"acc": accuracy}, grad_clip=1.0)
    history = trainer.fit(train, val, epochs=2)
    assert set(history) == {
        "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "step_loss", "lr", "grad_norm"
    }
    assert history["epoch"] == [1.0, 2.0]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert len(history[key]) == 2 and all(isinstance(v, float) for v in history[key])
    for key in ("step_loss", "lr", "grad_norm"):
        assert len(history[key]) == 14
    assert history is trainer.history


def test_train_loss_is_the_mean_of_step_losses_weighted_by_batch_size():
    train, _ = loaders(shuffle=False)
    trainer = make_trainer(model=mlp(dropout=0.0))
    h = trainer.fit(train, epochs=1)
    sizes = [16] * 6 + [4]
    expected = sum(loss * n for loss, n in zip(h["step_loss"], sizes)) / N
    assert h["train_loss"][0] == pytest.approx(expected, rel=1e-5)


def test_evaluate_matches_a_hand_computation():
    X, y = toy_data(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)  # batches of 4, 4, 2
    trainer = make_trainer(metrics={"acc": accuracy})
    result = trainer.evaluate(loader)
    model = trainer.model.eval()
    with torch.no_grad():
        logits = model(X)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert set(result) == {"loss", "acc"}


def test_evaluate_restores_the_mode_and_the_random_state():
    train, val = loaders()
    trainer = make_trainer(model=mlp(dropout=0.5))
    trainer.model.train()
    state = torch.get_rng_state()
    first = trainer.evaluate(val)
    assert trainer.evaluate(val) == first  # dropout is off while evaluating
    assert trainer.model.training
    assert torch.equal(torch.get_rng_state(), state)
    trainer.model.eval()
    trainer.evaluate(val)
    assert not trainer.model.training


def test_metrics_are_weighted_by_batch_size():
    # Targets 1, 1, 1 | 0: the mean of batch means would be 0.5, the true mean is 0.75.
    X = torch.zeros(4, D)
    y = torch.tensor([1, 1, 1, 0])
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    mean_target = {"mean_y": lambda out, target: target.float().mean()}
    trainer = make_trainer(metrics=mean_target)
    assert trainer.evaluate(loader)["mean_y"] == pytest.approx(0.75)
    assert trainer.fit(loader, epochs=1)["train_mean_y"] == [pytest.approx(0.75)]


def test_grad_clip_bounds_the_gradient_norm():
    train, _ = loaders()
    trainer = make_trainer(grad_clip=0.01)
    trainer.fit(train, epochs=1)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in trainer.model.parameters()]))
    assert norm <= 0.01 * (1 + 1e-4)
    assert max(trainer.history["grad_norm"]) > 0.01  # the recorded norm is before clipping


def test_grad_clip_must_be_a_positive_finite_number():
    with pytest.raises(ValueError, match="grad_clip must be a finite number > 0"):
        make_trainer(grad_clip=float("inf"))
    with pytest.raises(TypeError, match="grad_clip must be a number"):
        make_trainer(grad_clip="1")


class DictModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp(dropout=0.0)

    def forward(self, batch):
        return self.net(batch["x"])


class DictData(Dataset):
    def __init__(self, key="label"):
        self.X, self.y = toy_data(32)
        self.key = key  # the Trainer finds the target of a dict batch under "label"

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.X[i], self.key: self.y[i], "caption": f"item {i}"}


def test_dict_batches():
    loader = DataLoader(DictData(), batch_size=8)
    trainer = make_trainer(model=DictModel(), metrics={"acc": accuracy})
    history = trainer.fit(loader, loader, epochs=2)
    assert len(history["step_loss"]) == 8 and len(history["val_acc"]) == 2
    assert trainer.predict(loader).shape == (32, 2)


def test_dict_batch_without_the_target_key():
    loader = DataLoader(DictData("y"), batch_size=8)
    trainer = make_trainer(model=DictModel())
    with pytest.raises(ValueError, match="under 'label'"):
        trainer.fit(loader)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(D, 2), nn.Linear(3, 2)

    def forward(self, x, z):
        return self.a(x) + self.b(z)


def test_tuple_batches_with_two_inputs():
    X, y = toy_data(24)
    Z = torch.randn(24, 3)
    loader = DataLoader(TensorDataset(X, Z, y), batch_size=8)
    trainer = make_trainer(model=TwoInputs())
    trainer.fit(loader, epochs=1)
    assert trainer.step == 3
    assert trainer.predict(loader).shape == (24, 2)


def test_step_fn_replaces_the_batch_convention():
    calls = []

    def step_fn(model, batch):
        x, y = batch["pair"]
        out = model(x)
        calls.append(len(y))
        return nn.functional.cross_entropy(out, y), out, y

    X, y = toy_data(20)
    batches = [{"pair": (X[i:i + 5], y[i:i + 5])} for i in range(0, 20, 5)]
    model = mlp()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), step_fn=step_fn,
                      metrics={"acc": accuracy}, device="cpu")
    trainer.fit(batches, epochs=2)
    assert calls == [5] * 8 and trainer.step == 8
    assert 0.0 <= trainer.evaluate(batches)["acc"] <= 1.0
    assert trainer.predict(batches).shape == (20, 2)


def test_step_fn_must_return_three_values():
    model = mlp()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      step_fn=lambda m, b: m(b[0]).sum(), device="cpu")
    with pytest.raises(ValueError, match="step_fn must return"):
        trainer.fit([toy_data(4)])


def test_scheduler_steps_once_per_optimizer_step():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), scheduler=sched, device="cpu")
    train, _ = loaders()
    trainer.fit(train, epochs=2)
    assert sched.last_epoch == 14
    assert trainer.history["lr"] == [0.5**i for i in range(14)]  # the lr each step used


@pytest.mark.parametrize("init_scale", [2.0**127, float("inf")])
def test_the_loss_scaling_path(init_scale):
    # float16 training on CUDA uses a GradScaler; the CPU version exercises the same code.
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.9)
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), scheduler=sched, grad_clip=1.0, device="cpu")
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    before = [p.clone() for p in model.parameters()]
    train, _ = loaders()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler before optimizer" warning on skipped steps
        trainer.fit(train, epochs=1)
    assert sched.last_epoch == 7
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if math.isfinite(init_scale):
        assert changed and max(trainer.history["grad_norm"]) < 10  # clipped after unscaling
    else:
        assert not changed  # every step overflowed and was skipped
    assert "scaler" in trainer.state_dict() and trainer.state_dict()["scaler"]["scale"] > 0


def test_max_steps_stops_mid_epoch_and_the_next_fit_finishes_the_epoch():
    train, val = loaders()
    trainer = make_trainer()
    h = trainer.fit(train, val, epochs=2, max_steps=3)
    assert trainer.step == 3 and trainer.epoch == 0 and trainer.batch_in_epoch == 3
    assert h["epoch"] == [pytest.approx(3 / 7)] and len(h["val_loss"]) == 1  # a partial epoch
    h = trainer.fit(train, val, epochs=2)
    assert trainer.step == 14 and h["epoch"] == [1.0, 2.0] and len(h["val_loss"]) == 2


def test_max_steps_on_an_epoch_boundary_logs_a_full_epoch():
    train, _ = loaders()
    trainer = make_trainer()
    h = trainer.fit(train, epochs=3, max_steps=7)
    assert trainer.epoch == 1 and trainer.batch_in_epoch == 0 and h["epoch"] == [1.0]


def test_fit_with_nothing_left_to_do_warns():
    train, _ = loaders()
    trainer = make_trainer()
    trainer.fit(train, epochs=1)
    with pytest.warns(UserWarning, match="nothing to train"):
        trainer.fit(train, epochs=1)
    with pytest.warns(UserWarning, match="nothing to train"):
        trainer.fit(train, epochs=5, max_steps=7)
    assert trainer.step == 7


def test_an_interrupted_fit_can_be_continued():
    calls = {"n": 0}

    def flaky_loss(out, target):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the reader presses stop in the middle of epoch 1
        return nn.functional.cross_entropy(out, target)

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, flaky_loss, device="cpu")
    train, _ = loaders()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train, epochs=2)
    assert trainer.step == 4 and trainer.batch_in_epoch == 4 and len(trainer.history["step_loss"]) == 4
    trainer.fit(train, epochs=2)
    assert trainer.step == 14 and trainer.epoch == 2 and trainer.history["epoch"] == [1.0, 2.0]


def test_an_empty_train_loader_is_rejected():
    with pytest.raises(ValueError, match="at least one batch per epoch"):
        make_trainer().fit([], epochs=1)


@pytest.mark.parametrize("batch", [torch.zeros(4, D), (torch.zeros(4, D),), 3])
def test_unknown_batch_layouts_are_rejected(batch):
    with pytest.raises(ValueError, match="batch must be"):
        make_trainer().fit([batch])


def test_the_loss_must_be_a_batch_mean():
    model = mlp()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      nn.CrossEntropyLoss(reduction="none"), device="cpu")
    with pytest.raises(ValueError, match="0-d tensor"):
        trainer.fit([toy_data(4)])


def test_predict_concatenates_outputs_in_order():
    X, y = toy_data(10)
    trainer = make_trainer(model=mlp(dropout=0.0))
    with torch.no_grad():
        expected = trainer.model(X)
    out = trainer.predict(DataLoader(TensorDataset(X, y), batch_size=4))
    torch.testing.assert_close(out, expected)
    bare = trainer.predict([X[:6], X[6:]])  # batches without targets
    torch.testing.assert_close(bare, expected)


def test_predict_structured_outputs():
    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(D, 2)

        def forward(self, x):
            out = self.lin(x)
            return {"logits": out, "pair": (out, out.argmax(1))}

    X, y = toy_data(10)
    out = make_trainer(model=Both()).predict(DataLoader(TensorDataset(X, y), batch_size=4))
    assert out["logits"].shape == (10, 2) and out["pair"][1].shape == (10,)


def test_empty_loaders_are_rejected():
    trainer = make_trainer()
    with pytest.raises(ValueError, match="at least one batch"):
        trainer.evaluate([])
    with pytest.raises(ValueError, match="at least one batch"):
        trainer.predict([])


def test_progress_prints_one_line_per_epoch(capsys):
    train, val = loaders()
    make_trainer(progress=True, metrics={"acc": accuracy}).fit(train, val, epochs=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2") and "train_loss" in lines[0] and "val_acc" in lines[1]
    make_trainer().fit(train, val, epochs=1)
    assert capsys.readouterr().out == ""  # silent by default


def test_channels_last_conv_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x, y = torch.rand(8, 3, 6, 6), torch.randint(0, 2, (8,))
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                      device="cpu", channels_last=True)
    assert trainer.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    trainer.fit([(x, y)], epochs=2)
    assert trainer.step == 2


def test_constructor_rejects_a_wrong_type_with_type_error():
    model = mlp()
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        Trainer("mlp", torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        Trainer(model, "sgd", nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="metrics must be a dict"):
        make_trainer(metrics=[accuracy])
    with pytest.raises(TypeError, match="amp must be True or False"):
        make_trainer(amp="yes")


def test_constructor_rejects_a_wrong_value_with_value_error():
    model = mlp()
    with pytest.raises(ValueError, match="loss_fn must be given"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="metrics must map names other than 'loss'"):
        make_trainer(metrics={"loss": accuracy})


def test_fit_checks_its_limits():
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        make_trainer().fit([toy_data(4)], epochs=0)
    with pytest.raises(TypeError, match="max_steps must be an int"):
        make_trainer().fit([toy_data(4)], max_steps=1.5)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint_path"):
        make_trainer().fit([toy_data(4)], checkpoint_every=5)


def test_an_unwritable_checkpoint_path_fails_before_training(tmp_path):
    trainer = make_trainer()
    with pytest.raises(ValueError, match="cannot be written"):
        trainer.fit([toy_data(4)], checkpoint_path=tmp_path)  # a folder, not a file
    assert trainer.step == 0
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="cannot be written"):
            trainer.fit([toy_data(4)], checkpoint_path=locked / "c.pt")


def test_compile_wraps_the_forward_and_keeps_the_model(tmp_path):
    train, _ = loaders()
    eager = make_trainer(model=mlp(dropout=0.0))
    compiled = make_trainer(model=mlp(dropout=0.0), compile={"backend": "eager"})
    assert compiled.model is not compiled._forward and isinstance(compiled.model, nn.Sequential)
    seed_everything(0)
    eager.fit(train, epochs=1)
    seed_everything(0)  # the same shuffle
    compiled.fit(train, epochs=1)
    torch.testing.assert_close(compiled.history["step_loss"], eager.history["step_loss"])
    compiled.save_checkpoint(tmp_path / "c.pt")  # plain parameter names: loads into an uncompiled model
    make_trainer(model=mlp(dropout=0.0)).load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(TypeError, match="compile must be"):
        make_trainer(compile="eager")


def test_prefer_fused_switches_only_an_open_choice_on_cuda():
    model = mlp()
    open_choice = torch.optim.AdamW(model.parameters())
    assert not prefer_fused(open_choice, torch.device("cpu"))
    assert prefer_fused(open_choice, torch.device("cuda"))  # no step has run: only flags change
    assert all(g["fused"] for g in open_choice.param_groups)
    chosen = torch.optim.AdamW(model.parameters(), foreach=False)
    assert not prefer_fused(chosen, torch.device("cuda"))
    assert not prefer_fused(torch.optim.RMSprop(model.parameters()), torch.device("cuda"))


def test_an_optimizer_switched_to_fused_after_construction_steps_like_the_default():
    # torch's fused AdamW also runs on the CPU: the switch made by prefer_fused works in this torch.
    runs = []
    for fused in (False, True):
        model = mlp(dropout=0.0)
        opt = torch.optim.AdamW(model.parameters(), lr=0.05)
        if fused:
            assert prefer_fused(opt, torch.device("cuda"))
        for X, y in loaders(shuffle=False)[0]:
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


PACKAGE = str(pathlib.Path(mmtutorial.__file__).parent)


@pytest.fixture
def no_reads_from_the_package(monkeypatch):
    """Make every read of a tensor's value (.item(), float(), .tolist(), bool()) by the package's
    own code an error: on a GPU each one would make the CPU wait for the device."""
    def guard(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(PACKAGE):
                raise AssertionError(f"Tensor.{name} called from {caller}:{sys._getframe(1).f_lineno}")
            return original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, wrapper)

    return lambda: [guard(name) for name in ("item", "tolist", "__float__", "__int__", "__bool__")]


def test_a_training_step_never_reads_a_tensor_back(no_reads_from_the_package):
    forbid_reads = no_reads_from_the_package
    X, y = toy_data()
    loader = DeviceLoader((X, y), batch_size=BATCH, shuffle=True, device="cpu")
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=100)
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), scheduler=sched, grad_clip=1.0, device="cpu",
                      metrics={"acc": accuracy})
    batches = list(loader)  # drawing the shuffle seed reads a CPU tensor, as DataLoader does
    forbid_reads()
    for batch in batches:
        trainer.train_step(batch)
    assert trainer.step == len(loader)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_training_step_does_not_synchronize_on_cuda():
    X, y = toy_data()
    loader = DeviceLoader((X, y), batch_size=BATCH, shuffle=True, device="cuda")
    trainer = make_trainer(device="cuda", grad_clip=1.0, metrics={"acc": accuracy})
    trainer.train_step(next(iter(loader)))  # first step: lazy initialisation may sync
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in loader:
            trainer.train_step(batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoint_loads_with_weights_only(tmp_path):
    train, val = loaders()
    trainer = make_trainer(metrics={"acc": accuracy})
    trainer.fit(train, val, epochs=1, max_steps=3)
    path = tmp_path / "ckpt.pt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "step", "epoch", "batch_in_epoch",
            "history", "rng", "epoch_start_rng", "meters"} <= set(state)
    assert state["step"] == 3 and state["batch_in_epoch"] == 3
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda", "loader"}
    other = make_trainer(model=mlp(seed=1), metrics={"acc": accuracy})
    other.load_checkpoint(str(path))
    for a, b in zip(trainer.model.parameters(), other.model.parameters()):
        assert torch.equal(a, b)
    assert other.history == trainer.history and other.step == 3


def test_successful_save_leaves_exactly_one_file(tmp_path):
    trainer = make_trainer()
    trainer.save_checkpoint(tmp_path / "sub" / "ckpt.pt")  # creates the folder
    trainer.save_checkpoint(tmp_path / "sub" / "ckpt.pt")  # overwrites
    assert os.listdir(tmp_path / "sub") == ["ckpt.pt"]


def test_a_failing_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    trainer = make_trainer()
    trainer.save_checkpoint(path)
    before = path.read_bytes()

    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]

    # The temp file is complete, but the rename fails.
    monkeypatch.setattr(torch, "save", real_save)
    real_replace = os.replace

    def fail_replace(src, dst):
        assert os.path.getsize(src) > 0
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError, match="rename failed"):
        trainer.save_checkpoint(path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]
    make_trainer().load_checkpoint(path)  # still a valid checkpoint


def test_checkpoint_every_writes_during_training(tmp_path, monkeypatch):
    saved_at = []
    real = checkpoint.atomic_save

    def spy(obj, path):
        saved_at.append(obj["step"])
        real(obj, path)

    monkeypatch.setattr(checkpoint, "atomic_save", spy)
    train, _ = loaders()
    make_trainer().fit(train, epochs=1, checkpoint_path=tmp_path / "c.pt", checkpoint_every=3)
    assert saved_at == [3, 6, 7]  # every 3 steps, and at the end
    assert torch.load(tmp_path / "c.pt", weights_only=True)["step"] == 7


def test_load_checkpoint_rejects_a_missing_file_or_a_foreign_one(tmp_path):
    trainer = make_trainer()
    with pytest.raises(FileNotFoundError):
        trainer.load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(TypeError, match="path must be a path"):
        trainer.load_checkpoint(3)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="other.pt"):
        trainer.load_checkpoint(tmp_path / "other.pt")


def test_a_damaged_checkpoint_names_the_file_and_changes_nothing(tmp_path):
    trainer = make_trainer()
    path = tmp_path / "ckpt.pt"
    trainer.save_checkpoint(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, in the middle of the weights
    path.write_bytes(bytes(data))
    other = make_trainer(model=mlp(seed=1))
    before = [p.clone() for p in other.model.parameters()]
    with pytest.raises(checkpoint.CheckpointError, match="ckpt.pt"):
        other.load_checkpoint(path)
    assert all(torch.equal(a, b) for a, b in zip(before, other.model.parameters()))


def test_load_state_dict_checks_the_whole_state_before_changing_anything():
    trainer = make_trainer()
    trainer.fit(loaders()[0], epochs=1)
    good = trainer.state_dict()
    other = make_trainer(model=mlp(seed=1))
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    for key, bad in [("step", -4), ("history", [1.0]), ("meters", {"loss": 3}), ("rng", {"torch": 0}),
                     ("optimizer", {"param_groups": []})]:
        with pytest.raises((TypeError, ValueError)):
            other.load_state_dict({**good, key: bad})
        assert all(torch.equal(before[k], v) for k, v in other.model.state_dict().items()), key
        assert other.step == 0
    wide = make_trainer(model=nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2)))
    with pytest.raises(ValueError, match="shapes differ"):
        wide.load_state_dict(good)


def test_load_checkpoint_needs_a_matching_scheduler(tmp_path):
    trainer = make_trainer()
    trainer.save_checkpoint(tmp_path / "c.pt")
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with_sched = Trainer(model, opt, nn.CrossEntropyLoss(), device="cpu",
                         scheduler=torch.optim.lr_scheduler.StepLR(opt, 1))
    with pytest.raises(ValueError, match="scheduler must match"):
        with_sched.load_checkpoint(tmp_path / "c.pt")


# ---------------------------------------------------------------------------- exact resume
# Training N steps straight must equal training k steps, saving, and finishing the same
# fit in a brand-new Trainer (new model, optimizer, scheduler, loaders), bit for bit.

EPOCHS = 3  # 21 steps


def build(use_generator, model_seed=0, dataset=None, num_workers=0):
    model = mlp(dropout=0.3, seed=model_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=EPOCHS * 7)
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), scheduler=sched, metrics={"acc": accuracy},
                      device="cpu")
    X, y = toy_data()
    gen = torch.Generator().manual_seed(7) if use_generator else None
    train = DataLoader(dataset or TensorDataset(X, y), batch_size=BATCH, shuffle=True, generator=gen,
                       num_workers=num_workers)
    val = DataLoader(TensorDataset(X[:40], y[:40]), batch_size=BATCH, shuffle=True)  # uses the RNG too
    return trainer, train, val


def straight_run(use_generator, epochs=EPOCHS, **kwargs):
    seed_everything(1234)
    trainer, train, val = build(use_generator, **kwargs)
    trainer.fit(train, val, epochs=epochs)
    return trainer


def assert_same_training(a, b):
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(p, q), name
    assert a.history == b.history
    assert a.step == b.step and a.epoch == b.epoch
    assert a.scheduler.state_dict() == b.scheduler.state_dict()
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in sa:
        for key in sa[i]:
            assert torch.equal(sa[i][key], sb[i][key])


@pytest.fixture(scope="module")
def straight():
    return {g: straight_run(g) for g in (False, True)}


@pytest.mark.parametrize("use_generator", [False, True])
@pytest.mark.parametrize("k", [3, 7, 10, 20])  # mid-epoch, epoch boundary, mid-epoch, last epoch
def test_resume_from_a_checkpoint_is_exact(straight, tmp_path, use_generator, k):
    seed_everything(1234)
    first, train, val = build(use_generator)
    first.fit(train, val, epochs=EPOCHS, max_steps=k, checkpoint_path=tmp_path / "c.pt")
    assert first.step == k

    torch.manual_seed(999)  # the new process starts from some other random state
    torch.rand(10)
    resumed, train, val = build(use_generator, model_seed=5)
    resumed.load_checkpoint(tmp_path / "c.pt")
    resumed.fit(train, val, epochs=EPOCHS)
    assert_same_training(straight[use_generator], resumed)


def test_resume_in_memory_after_max_steps(straight):
    seed_everything(1234)
    trainer, train, val = build(False)
    trainer.fit(train, val, epochs=EPOCHS, max_steps=5)
    torch.rand(100)  # the notebook does something random in between
    trainer.fit(train, val, epochs=EPOCHS, max_steps=12)
    trainer.fit(train, val, epochs=EPOCHS)
    assert_same_training(straight[False], trainer)


def test_resume_from_a_checkpoint_written_during_training(straight, tmp_path, monkeypatch):
    copies = {}
    real = checkpoint.atomic_save

    def keep_copies(obj, path):
        real(obj, path)
        copies[obj["step"]] = path.read_bytes()

    monkeypatch.setattr(checkpoint, "atomic_save", keep_copies)
    seed_everything(1234)
    trainer, train, val = build(True)
    trainer.fit(train, val, epochs=EPOCHS, checkpoint_path=tmp_path / "c.pt", checkpoint_every=9)
    assert_same_training(straight[True], trainer)  # saving does not disturb training
    (tmp_path / "step9.pt").write_bytes(copies[9])
    resumed, train, val = build(True, model_seed=3)
    resumed.load_checkpoint(tmp_path / "step9.pt")
    resumed.fit(train, val, epochs=EPOCHS)
    assert_same_training(straight[True], resumed)


class NoisyData(Dataset):
    """Random augmentation in __getitem__ from torch, NumPy and Python generators."""

    def __init__(self):
        self.X, self.y = toy_data()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        import random

        import numpy as np

        noise = 0.1 * torch.randn(D) + float(np.random.rand()) * 0.01 + random.random() * 0.01
        return self.X[i] + noise, self.y[i]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_with_random_augmentation(tmp_path, num_workers):
    data = NoisyData()
    reference = straight_run(False, epochs=2, dataset=data, num_workers=num_workers)
    seed_everything(1234)
    first, train, val = build(False, dataset=data, num_workers=num_workers)
    first.fit(train, val, epochs=2, max_steps=11, checkpoint_path=tmp_path / "c.pt")
    resumed, train, val = build(False, model_seed=2, dataset=data, num_workers=num_workers)
    resumed.load_checkpoint(tmp_path / "c.pt")
    resumed.fit(train, val, epochs=2)
    assert_same_training(reference, resumed)


def test_resume_respects_a_global_max_steps(tmp_path):
    seed_everything(1234)
    reference, train, val = build(False)
    reference.fit(train, val, epochs=EPOCHS, max_steps=15)
    seed_everything(1234)
    first, train, val = build(False)
    first.fit(train, val, epochs=EPOCHS, max_steps=6, checkpoint_path=tmp_path / "c.pt")
    resumed, train, val = build(False, model_seed=4)
    resumed.load_checkpoint(tmp_path / "c.pt")
    resumed.fit(train, val, epochs=EPOCHS, max_steps=15)
    assert resumed.step == 15
    assert_same_training(reference, resumed)


def test_resume_with_a_shorter_loader_is_rejected(tmp_path):
    torch.manual_seed(0)
    first, train, val = build(False)
    first.fit(train, epochs=EPOCHS, max_steps=5, checkpoint_path=tmp_path / "c.pt")
    resumed, _, _ = build(False)
    resumed.load_checkpoint(tmp_path / "c.pt")
    short, _ = loaders(n=40)  # 3 batches per epoch
    with pytest.raises(ValueError, match="already trained on"):
        resumed.fit(short, epochs=EPOCHS)


def test_checkpoint_and_history_stay_finite():
    trainer = straight_run(False)
    assert all(math.isfinite(v) for v in trainer.history["step_loss"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.state_dict()


def build_on_device_loader(use_generator, model_seed=0):
    trainer, _, val = build(False, model_seed=model_seed)
    X, y = toy_data()
    gen = torch.Generator().manual_seed(7) if use_generator else None
    return trainer, DeviceLoader((X, y), batch_size=BATCH, shuffle=True, device="cpu", generator=gen), val


@pytest.mark.parametrize("use_generator", [False, True])
@pytest.mark.parametrize("k", [3, 7, 10])
def test_resume_with_the_device_loader_is_exact(tmp_path, use_generator, k):
    seed_everything(1234)
    reference, train, val = build_on_device_loader(use_generator)
    reference.fit(train, val, epochs=EPOCHS)
    seed_everything(1234)
    first, train, val = build_on_device_loader(use_generator)
    first.fit(train, val, epochs=EPOCHS, max_steps=k, checkpoint_path=tmp_path / "c.pt")
    torch.rand(10)  # the new process starts from some other random state
    resumed, train, val = build_on_device_loader(use_generator, model_seed=5)
    resumed.load_checkpoint(tmp_path / "c.pt")
    resumed.fit(train, val, epochs=EPOCHS)
    assert_same_training(reference, resumed)


def test_the_device_loader_trains_like_a_dataloader_on_the_cpu(straight):
    seed_everything(1234)
    trainer, train, val = build_on_device_loader(False)
    trainer.fit(train, val, epochs=EPOCHS)
    assert_same_training(straight[False], trainer)  # same batches, same dropout masks, same weights
