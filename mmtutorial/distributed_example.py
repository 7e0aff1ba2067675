"""A runnable example of data-parallel training: the same command on one process or on several.

::

    python -m mmtutorial.distributed_example --out runs/one            # one process
    torchrun --standalone --nproc_per_node=2 -m mmtutorial.distributed_example --out runs/ddp

Both train the same two-modality toy classifier (:func:`toy_model` on :func:`toy_data`) with
the :class:`~mmtutorial.train.Trainer` on the same global batches: under torchrun each of the
W processes takes ``batch_size / W`` examples of every batch (:func:`~mmtutorial.distributed.sharded_loader`)
and ``DistributedDataParallel`` averages their gradients, so the two runs take the same steps
up to rounding. Rank 0 prints, writes the checkpoint ``ddp.pt`` (which loads in a single
process) and ``result.json`` (the history, world size and time). ``--fsdp`` then trains the
same model again with fully sharded data parallelism and writes its weights to ``fsdp.pt``.
The chapter *When one device is not enough* runs it; its test compares the runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from . import checkpoint, distributed
from ._checks import check_int
from .data.loading import DeviceLoader
from .fusion import ConcatFusion, FusionClassifier
from .train import Trainer

__all__ = ["build", "main", "run", "toy_data", "toy_model"]

N_CLASSES = 4


def toy_data(n: int = 512, seed: int = 0,
             dims: tuple[int, int] = (16, 8)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two modalities ``(n, dims[0])``, ``(n, dims[1])`` of Gaussian features and labels ``(n,)`` in [0, 4).

    The label is the largest of four sums, each of one feature of either modality, so neither
    modality alone determines it. The same ``seed`` gives the same data in every process.
    """
    n = check_int("n", n, min=1)
    if min(dims) < N_CLASSES:
        raise ValueError(f"dims must be at least {N_CLASSES} each, got {dims}")
    g = torch.Generator().manual_seed(seed)
    xa, xb = torch.randn(n, dims[0], generator=g), torch.randn(n, dims[1], generator=g)
    labels = (xa[:, :N_CLASSES] + xb[:, :N_CLASSES]).argmax(1)  # (n,)
    return xa, xb, labels


def toy_model(width: int = 64, dims: tuple[int, int] = (16, 8), seed: int = 0) -> FusionClassifier:
    """One linear+ReLU encoder per modality, concatenation fusion with a hidden layer, a linear head.

    No dropout and no batch normalization: the gradient of a batch is then exactly the mean
    of its examples' gradients, which data parallelism relies on. Initialized from ``seed``.
    """
    width = check_int("width", width, min=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders = [nn.Sequential(nn.Linear(d, width), nn.ReLU()) for d in dims]
        return FusionClassifier(encoders, ConcatFusion((width, width), width, hidden_dim=width),
                                nn.Linear(width, N_CLASSES))


def _train_fsdp(args: argparse.Namespace, device: torch.device, data: tuple) -> dict:
    """The same training with FSDP and a hand-written loop; rank 0 writes the full weights to fsdp.pt."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    model = toy_model(args.width, seed=args.seed).to(device)
    full_bytes = distributed.measured_state_bytes(model)["weights"]  # before sharding: the whole model
    distributed.shard_model(model, layers=[*model.encoders, model.fusion])
    local_bytes = sum(p.to_local().numel() * p.element_size() for p in model.parameters())  # this shard
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loader = distributed.sharded_loader(data, args.batch_size // distributed.world_size(), seed=args.seed,
                                        device=device)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(args.epochs):
        for xa, xb, y in loader:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xa, xb), y).backward()  # gradients reduce-scattered: each keeps its shard
            optimizer.step()
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_model_state_dict(model, options=options)  # gathered on rank 0, empty elsewhere
    if distributed.is_main():
        checkpoint.atomic_save(state, Path(args.out) / "fsdp.pt")
    return {"fsdp_full_param_bytes": full_bytes, "fsdp_local_param_bytes": local_bytes}


def build(n: int = 512, batch_size: int = 32, *, width: int = 64, lr: float = 3e-3, seed: int = 0,
          device: torch.device | str = "cpu", progress: bool = False) -> tuple[Trainer, DeviceLoader, DeviceLoader]:
    """The Trainer, training loader and validation loader of this example, in this process's group.

    ``batch_size`` is the global batch: each of the W processes (1 without torchrun) loads
    ``batch_size / W`` of it. The model is wrapped in ``DistributedDataParallel`` when a
    process group is running. Called the same way in one process and under torchrun, it
    gives runs that take the same steps.
    """
    world = distributed.world_size()
    if check_int("batch_size", batch_size, min=1) % world:
        raise ValueError(f"batch_size must be divisible by the {world} processes, got {batch_size}")
    model = distributed.wrap_model(toy_model(width, seed=seed), device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    loader = distributed.sharded_loader(toy_data(n, seed=seed), batch_size // world, seed=seed, device=device)
    val_loader = distributed.sharded_loader(toy_data(max(n // 2, 1), seed=seed + 1), 256, shuffle=False,
                                            device=device)  # held-out examples, each process a shard
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), device=device, amp=False,
                      progress=progress and distributed.is_main())
    return trainer, loader, val_loader


def run(args: argparse.Namespace) -> dict:
    """Train as ``args`` says, in this process (alone, or as one of torchrun's); returns the results."""
    device = distributed.init_distributed(device=args.device)
    try:
        trainer, loader, val_loader = build(args.examples, args.batch_size, width=args.width, lr=args.lr,
                                            seed=args.seed, device=device, progress=not args.quiet)
        start = time.perf_counter()
        history = trainer.fit(loader, val_loader, epochs=args.epochs, checkpoint_path=Path(args.out) / "ddp.pt")
        backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else None
        result = {"world_size": distributed.world_size(), "backend": backend, "device": str(device),
                  "steps": trainer.step, "seconds": time.perf_counter() - start,
                  "history": {k: history[k] for k in ("epoch", "train_loss", "val_loss")}}
        if args.fsdp:
            result |= _train_fsdp(args, device, toy_data(args.examples, seed=args.seed))
        if distributed.is_main():
            (Path(args.out) / "result.json").write_text(json.dumps(result, indent=1))
        return result
    finally:
        distributed.cleanup()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mmtutorial.distributed_example", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for ddp.pt, fsdp.pt and result.json")
    p.add_argument("--examples", type=int, default=512, help="training examples")  # "--n": torchrun's --nnodes
    p.add_argument("--batch-size", type=int, default=32, help="the global batch, split over the processes")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: a GPU per process where there are enough)")
    p.add_argument("--fsdp", action="store_true", help="also train with FSDP and write fsdp.pt")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: list[str] | None = None) -> dict:
    """The command-line entry point (see the module docstring)."""
    args = _parser().parse_args(argv)
    if args.examples < 1 or args.batch_size < 1 or args.epochs < 1 or args.width < 1 or not math.isfinite(args.lr):
        raise SystemExit("--examples, --batch-size, --epochs and --width must be positive and --lr finite")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return run(args)


if __name__ == "__main__":
    main()
