"""Holding samples and serving batches: `DictDataset` and the in-memory `DeviceLoader`.

- `DictDataset` holds named columns (tensors, or lists of tensors of different lengths, or
  strings) and returns one dict per sample, for a `DataLoader` with a collate function
  (`mmtutorial.preprocess.collate`). Living in a module, it can be sent to worker processes.
- `DeviceLoader` serves batches of tensors that fit in memory, kept on the device once and
  sliced there: no per-sample indexing, no collate, no copy per step. On a GPU a
  `DataLoader(TensorDataset(...))` indexes and stacks every sample on the CPU and then copies
  the batch, which can leave the GPU waiting most of the time; the chapter *Optimization and
  the training loop* measures it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

import torch
from torch.utils.data import Dataset

from .._checks import check_bool, check_int, check_same_length, check_type
from ..device import as_device, get_device

__all__ = ["DeviceLoader", "DictDataset"]

Tensors = Union[torch.Tensor, Sequence[torch.Tensor], Mapping[str, torch.Tensor]]


class DictDataset(Dataset):
    """A Dataset of dict samples from named columns, one entry per sample.

    ``DictDataset(tokens=[...], audio=[...], image=images, label=labels)``: each column is a
    tensor (N, ...) or a list of length N (e.g. tensors of different lengths, strings).
    ``dataset[i]`` is ``{name: column[i]}``. An optional ``transform`` maps each sample dict.
    """

    def __init__(self, transform: Any = None, **columns: Sequence[Any] | torch.Tensor):
        if not columns:
            raise ValueError("DictDataset needs at least one column, e.g. DictDataset(image=images)")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        self._n = check_same_length(**columns)
        self.columns, self.transform = dict(columns), transform

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = {name: col[i] for name, col in self.columns.items()}
        return self.transform(sample) if self.transform is not None else sample


class DeviceLoader:
    """Batches of in-memory tensors that live on the device.

    ``DeviceLoader((images, labels), batch_size=256, shuffle=True)`` yields tuples
    ``(images[idx], labels[idx])``, the batches ``DataLoader(TensorDataset(images, labels),
    batch_size=256, shuffle=True)`` would give; a single tensor yields tensors and a dict of
    tensors yields dicts. The tensors are moved to ``device`` (default:
    :func:`~mmtutorial.device.get_device`) once, when the loader is made.

    Shuffling draws a permutation on the device at the start of every epoch. Without a
    ``generator`` it is seeded from torch's global generator, exactly as ``DataLoader`` does,
    so on the CPU the two give the same batches after the same ``seed_everything``; with one
    (a ``torch.Generator`` on the tensors' device) the order depends on that generator alone,
    and the Trainer saves and restores its state in checkpoints. Without shuffling, batches
    are views into the tensors, in order. ``drop_last=True`` drops the last batch when it is
    smaller than ``batch_size``, as ``DataLoader`` does.

    Sharding, for data-parallel training (the chapter *When one device is not enough*):
    with ``num_replicas=W`` and ``rank=r`` the loader serves only the samples at positions
    ``r, r + W, r + 2W, ...`` of the epoch's order, padded by wrapping around to
    ``ceil(N / W)`` samples as ``DistributedSampler`` does, so that every process runs the same
    number of steps. Shuffled shards need a ``generator`` seeded the same in every process:
    the processes must agree on the order they split.
    """

    def __init__(
        self,
        tensors: Tensors,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        *,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.device = get_device() if device is None else as_device(device)
        self.num_replicas = check_int("num_replicas", num_replicas, min=1)
        self.rank = check_int("rank", rank, min=0, max=self.num_replicas - 1)
        self.batch_size = check_int("batch_size", batch_size, min=1)
        self.shuffle = check_bool("shuffle", shuffle)
        self.drop_last = check_bool("drop_last", drop_last)
        if generator is not None:
            check_type("generator", generator, torch.Generator, "a torch.Generator or None")
            if generator.device.type != self.device.type:
                raise ValueError(f"generator must be on the loader's device {self.device}, "
                                 f"got one on {generator.device}")
        self.generator = generator
        if self.num_replicas > 1 and self.shuffle and generator is None:
            raise ValueError("a shuffled loader with num_replicas > 1 needs a generator seeded the same in "
                             "every process, got generator=None")
        if isinstance(tensors, torch.Tensor):
            self._kind, named = "tensor", {"0": tensors}
        elif isinstance(tensors, Mapping):
            self._kind, named = "dict", dict(tensors)
        elif isinstance(tensors, Sequence) and not isinstance(tensors, str):
            self._kind, named = "tuple", {str(i): t for i, t in enumerate(tensors)}
        else:
            raise TypeError("tensors must be a tensor, a tuple of tensors or a dict of tensors, "
                            f"got {type(tensors).__name__}")
        if not named:
            raise ValueError("tensors must hold at least one tensor, got none")
        for name, t in named.items():
            label = "tensors" if self._kind == "tensor" else f"tensors[{name if self._kind == 'dict' else int(name)!r}]"
            check_type(label, t, torch.Tensor, "a tensor")
            if t.ndim == 0:
                raise ValueError(f"{label} must have a leading sample axis (N, ...), got a 0-d tensor")
        n = check_same_length(**{f"tensors[{k}]": t for k, t in named.items()})
        if n == 0:
            raise ValueError("tensors must hold at least one sample, got N = 0")
        self._size = math.ceil(n / self.num_replicas)  # samples this process serves per epoch
        if self.drop_last and self._size < self.batch_size:
            raise ValueError(f"drop_last=True with {self._size} samples and batch_size={self.batch_size} "
                             "leaves no batch at all")
        self._columns = {k: t.to(self.device) for k, t in named.items()}
        self.num_samples = n

    def __len__(self) -> int:
        """Batches per epoch."""
        whole, rest = divmod(self._size, self.batch_size)
        return whole + (1 if rest and not self.drop_last else 0)

    def _order(self) -> torch.Tensor | None:
        """This epoch's permutation (N,) on the device, or None in order.

        It draws what DataLoader draws at every epoch (a base seed for worker processes, from
        the loader's generator or else torch's global one, then the shuffling seed when there
        is no generator), so that the random numbers drawn after the epoch (dropout,
        augmentation) are the same as with DataLoader too.
        """
        generator = self.generator
        device = generator.device if generator is not None else None
        torch.empty((), dtype=torch.int64, device=device).random_(generator=generator)  # the unused base seed
        if not self.shuffle:
            return None
        if generator is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator(device=self.device).manual_seed(seed)
        return torch.randperm(self.num_samples, generator=generator, device=self.device)

    def _shard(self, order: torch.Tensor | None) -> torch.Tensor:
        """This process's positions (ceil(N / W),) of the epoch's order: every W-th, from ``rank``."""
        if order is None:
            order = torch.arange(self.num_samples, device=self.device)
        total = self._size * self.num_replicas
        if total > self.num_samples:  # pad by wrapping around, as DistributedSampler does
            order = order.repeat(math.ceil(total / self.num_samples))[:total]
        return order[self.rank:total:self.num_replicas]

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.num_replicas > 1:
            order = self._shard(order)
        for b in range(len(self)):
            lo = b * self.batch_size
            hi = min(lo + self.batch_size, self._size)
            if order is None:
                batch = [t[lo:hi] for t in self._columns.values()]  # views: no copy
            else:
                idx = order[lo:hi]
                batch = [t.index_select(0, idx) for t in self._columns.values()]
            yield self._pack(batch)
        if order is not None and self.generator is not None:
            # DataLoader's sampler draws one more permutation when it runs out; so do we, to
            # leave the generator where DataLoader leaves it.
            torch.randperm(self.num_samples, generator=self.generator, device=self.device)

    def _pack(self, batch: list[torch.Tensor]) -> Any:
        if self._kind == "tensor":
            return batch[0]
        if self._kind == "dict":
            return dict(zip(self._columns, batch))
        return tuple(batch)

    def __repr__(self) -> str:
        shard = f", rank={self.rank}/{self.num_replicas}" if self.num_replicas > 1 else ""
        return (f"DeviceLoader(samples={self.num_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, device={self.device}{shard})")
