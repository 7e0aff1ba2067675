"""Training on several processes, beside the Trainer: the chapter *When one device is not enough*.

Data parallelism with PyTorch's own engine: every process holds a full copy of the model,
trains on its own shard of each batch, and ``DistributedDataParallel`` averages the gradients
of all processes (an all-reduce) during the backward pass, so that every copy takes the same
step. ``torchrun --nproc_per_node=N script.py`` starts the N processes and tells each its
rank through environment variables; this module reads them:

- :func:`init_distributed` / :func:`cleanup`: join (and leave) the process group that
  torchrun describes: NCCL on GPUs, gloo on CPUs; a plain ``python script.py`` runs as a
  single process and needs no group at all;
- :func:`rank`, :func:`world_size`, :func:`is_main`: who am I, how many are we, am I the one
  that prints and saves;
- :func:`wrap_model`: the model in ``DistributedDataParallel`` (or unchanged in one process);
  the :class:`~mmtutorial.train.Trainer` accepts the wrapped model as it is;
- :func:`sharded_loader`: a :class:`~mmtutorial.data.DeviceLoader` that serves each process
  its shard of every epoch, all processes agreeing on the order;
- :func:`all_reduce_mean`: a metric's mean over the examples of all processes;
- :func:`accumulate_gradients`: the gradient of a big batch from several small ones;
- :func:`shard_model`: fully sharded data parallelism (FSDP2, ``fully_shard``) for models
  whose weights, gradients and optimizer state do not fit one device;
- :func:`training_state_bytes`, :func:`measured_state_bytes`, :func:`saved_activation_bytes`:
  where the memory goes, by formula and as measured.

The runnable example is :mod:`mmtutorial.distributed_example`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ._checks import check_choice, check_int, check_type
from .data.loading import DeviceLoader, Tensors
from .device import as_device
from .metrics import all_reduce_means

__all__ = [
    "accumulate_gradients",
    "all_reduce_mean",
    "cleanup",
    "describe_bytes",
    "init_distributed",
    "is_main",
    "launched_by_torchrun",
    "measured_state_bytes",
    "rank",
    "saved_activation_bytes",
    "shard_model",
    "sharded_loader",
    "training_state_bytes",
    "world_size",
    "wrap_model",
]

# ----------------------------------------------------------------------------- processes


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher) set ``RANK`` and ``WORLD_SIZE`` for this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(backend: str | None = None, device: torch.device | str | None = None) -> torch.device:
    """Join the process group torchrun describes; returns this process's device.

    ``backend``: ``"nccl"`` (GPUs) or ``"gloo"`` (CPUs); by default NCCL when there is a GPU
    for every local process, else gloo on the CPU. ``device`` forces a device (``"cpu"`` runs
    gloo even where there are GPUs). Without torchrun's variables nothing is joined: the
    single process trains alone, on ``device`` (default: the first GPU, else the CPU).
    """
    if device is not None:
        device = as_device(device)
    if not launched_by_torchrun():
        return device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    if device is None:
        enough_gpus = torch.cuda.is_available() and torch.cuda.device_count() >= local_world
        device = torch.device("cuda", local_rank) if enough_gpus else torch.device("cpu")
    elif device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if backend is None:
        backend = "nccl" if device.type == "cuda" else "gloo"
    check_choice("backend", backend, ("nccl", "gloo"))
    if backend == "nccl" and device.type != "cuda":
        raise ValueError(f"backend 'nccl' needs a CUDA device, got device {device}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return device


def cleanup() -> None:
    """Leave the process group (at the end of a torchrun script); nothing to do in a single process."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _group_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group (0 in a single process)."""
    return dist.get_rank() if _group_ready() else 0


def world_size() -> int:
    """The number of processes in the group (1 in a single process)."""
    return dist.get_world_size() if _group_ready() else 1


def is_main() -> bool:
    """Whether this is the process of rank 0: the one that prints, plots and saves."""
    return rank() == 0


def wrap_model(model: nn.Module, device: torch.device | str, **ddp_args: Any) -> nn.Module:
    """``model`` on ``device``, in ``DistributedDataParallel`` when a process group is running.

    The wrapper copies rank 0's weights to every process when it is made, and averages the
    gradients of all processes during every backward pass. In a single process the model is
    returned unchanged, so that one script runs both ways.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    device = as_device(device)
    model = model.to(device)
    if not _group_ready():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **ddp_args)


def sharded_loader(
    tensors: Tensors,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> DeviceLoader:
    """A :class:`~mmtutorial.data.DeviceLoader` serving this process's shard of every epoch.

    ``batch_size`` is per process: a step of W processes sees ``W * batch_size`` examples.
    The order is drawn from a generator seeded with ``seed`` in every process (so all agree on
    it, and checkpoints save it); process r takes positions r, r + W, ... of it. In a single
    process it is an ordinary shuffled loader, with the same order for the same seed, so the
    batch of one process with ``W * batch_size`` is the union of the W processes' batches.
    """
    check_int("seed", seed)
    if device is None:  # this process's GPU (init_distributed selected it), else the CPU
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
    device = as_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    generator = torch.Generator(device=device).manual_seed(seed)
    return DeviceLoader(tensors, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, device=device,
                        generator=generator, num_replicas=world_size(), rank=rank())


def all_reduce_mean(value: float | torch.Tensor, count: int = 1) -> float:
    """The mean of ``value`` over all processes, each weighted by its ``count`` of examples.

    ``value`` is a process's own mean over ``count`` examples; every process must call this
    (it communicates). In a single process it returns ``value``.
    """
    count = check_int("count", count, min=0)
    if not _group_ready():
        return float(value)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    return all_reduce_means([(float(value) * count, count)], device)[0]


# ----------------------------------------------------------------------------- gradients


def accumulate_gradients(
    model: nn.Module,
    micro_batches: Sequence[Sequence[torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Backward over micro-batches ``(*inputs, target)`` so that ``.grad`` holds the big batch's gradient.

    Each micro-batch's mean loss is weighted by its share of the examples, so the gradients
    add up to the gradient of the mean loss over all of them, as one batch would give (up to
    rounding). Under ``DistributedDataParallel`` the gradients are averaged across processes
    only on the last micro-batch (``no_sync`` before it): one all-reduce per step, not per
    micro-batch. Returns the mean loss over all examples (0-d, detached); the caller zeroes
    the gradients before and steps the optimizer after.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if isinstance(micro_batches, (str, bytes)) or not isinstance(micro_batches, Sequence) or not micro_batches:
        raise ValueError("micro_batches must be a non-empty list of (*inputs, target) tuples")
    sizes = []
    for i, batch in enumerate(micro_batches):
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise ValueError(f"micro_batches[{i}] must be a tuple (*inputs, target), got {type(batch).__name__}")
        sizes.append(len(batch[-1]))
    total = sum(sizes)
    mean_loss = torch.zeros(())
    last = len(micro_batches) - 1
    for i, (batch, n) in enumerate(zip(micro_batches, sizes)):
        sync = not isinstance(model, nn.parallel.DistributedDataParallel) or i == last
        with contextlib.nullcontext() if sync else model.no_sync():
            loss = loss_fn(model(*batch[:-1]), batch[-1]) * (n / total)  # this share of the big batch's mean
            loss.backward()
        mean_loss = mean_loss.to(loss.device) + loss.detach()
    return mean_loss


def _fully_shard() -> Callable[..., Any]:
    """torch's ``fully_shard`` (public from torch 2.6, under ``_composable`` in 2.4 and 2.5)."""
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:  # torch < 2.6
        from torch.distributed._composable.fsdp import fully_shard
    return fully_shard


def shard_model(model: nn.Module, layers: Iterable[nn.Module] = ()) -> nn.Module:
    """Fully sharded data parallelism (FSDP2): each process keeps 1/W of every parameter.

    Each module of ``layers`` (e.g. the blocks of a Transformer) becomes one unit: its full
    weights are gathered just before its forward and backward and freed just after, and its
    gradients are reduce-scattered, so at any moment only one unit is whole. The model itself
    becomes the last unit (for what is left). Parameters turn into ``DTensor`` shards, and the
    optimizer must be made afterwards, over them. Needs a process group (:func:`init_distributed`);
    runs on gloo (CPU) and NCCL (GPU). Modifies ``model`` in place and returns it.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if not _group_ready():
        raise ValueError("shard_model needs a process group: call init_distributed() under torchrun first")
    fully_shard = _fully_shard()
    for i, layer in enumerate(layers):
        check_type(f"layers[{i}]", layer, nn.Module, "a torch.nn.Module")
        fully_shard(layer)
    fully_shard(model)
    return model


# ----------------------------------------------------------------------------- memory

#: bytes per parameter of (weights, gradients, master weights, optimizer state) for each recipe
_RECIPES = {
    # everything in float32: what the book's CPU runs (and torch's autocast: weights stay float32)
    "fp32": (4, 4, 0, 4),
    # mixed precision as large models train: 16-bit weights and gradients, a float32 master copy
    "mixed": (2, 2, 4, 4),
    # everything in bfloat16, optimizer state too
    "bf16": (2, 2, 0, 2),
}
_STATES_PER_PARAM = {"sgd": 0, "momentum": 1, "adam": 2}


def training_state_bytes(num_params: int, precision: str = "fp32", optimizer: str = "adam") -> dict[str, int]:
    """Bytes of the training state of a model with ``num_params`` parameters, by kind.

    ``precision``: ``"fp32"`` (4 + 4 bytes of weight and gradient), ``"mixed"`` (16-bit weights
    and gradients, plus a float32 master copy the optimizer updates) or ``"bf16"`` (everything
    16-bit); ``optimizer``: ``"sgd"`` (no state), ``"momentum"`` (one buffer) or ``"adam"``
    (two moments). Adam in float32 or mixed precision costs 16 bytes per parameter. Returns
    ``weights``, ``gradients``, ``master``, ``optimizer`` and their ``total``; activations
    come on top (:func:`saved_activation_bytes`).
    """
    num_params = check_int("num_params", num_params, min=0)
    weight, grad, master, state = _RECIPES[check_choice("precision", precision, tuple(_RECIPES))]
    states = _STATES_PER_PARAM[check_choice("optimizer", optimizer, tuple(_STATES_PER_PARAM))]
    out = {"weights": weight * num_params, "gradients": grad * num_params, "master": master * num_params,
           "optimizer": states * state * num_params}
    out["total"] = sum(out.values())
    return out


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def measured_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes the tensors of a model and its optimizer actually hold, by kind.

    ``weights`` (parameters), ``gradients`` (their ``.grad``, where set), ``optimizer`` (the
    optimizer's per-parameter state tensors, e.g. Adam's two moments; its step counters
    (``state["step"]``, 4 bytes per parameter tensor) are counted apart in ``counters``) and ``total``.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    params = list(model.parameters())
    out = {"weights": sum(_nbytes(p) for p in params),
           "gradients": sum(_nbytes(p.grad) for p in params if p.grad is not None),
           "optimizer": 0, "counters": 0}
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
        for state in optimizer.state.values():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    out["counters" if key == "step" else "optimizer"] += _nbytes(value)
    out["total"] = sum(out.values())
    return out


def saved_activation_bytes(model: nn.Module, *inputs: Any) -> int:
    """Bytes of the tensors a forward pass of ``model`` keeps for its backward pass (the activations).

    Counted with ``torch.autograd.graph.saved_tensors_hooks``: every tensor autograd saves,
    each storage once (several views of one tensor cost it once), the model's parameters
    excluded (they are counted as weights). The forward runs with gradients enabled; its
    graph is freed on return.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(*inputs)
    del out
    return sum(storages.values())


def describe_bytes(n: float) -> str:
    """``n`` bytes in the unit that reads best: ``"1.50 GB"`` (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"

