"""What does the Trainer cost? Ratios measured side by side in one run (``make bench``).

On the CPU (torch on one thread, so that both loops do the same work the same way):

* Trainer.fit / hand-written loop, same MLP, batches and initial weights, taking turns: the
  lower quartile of the step time and the median time of a whole run (target: at most 1.05);
* the loaders: the Trainer over the in-memory DeviceLoader against DataLoader(TensorDataset).

With CUDA, also the GPU table of ``mmtutorial.benchmark.throughput_table`` on the ShapesWorld
CNN: the Trainer with the DeviceLoader against a hand-written loop over device-resident
tensors (target: at least 0.95 at batch 256 and 1024, fp32 and bf16) and against the Trainer
with DataLoader(TensorDataset) (target: at least 2x at batch 1024).

    python bench/train_overhead.py            # about 40 s on the CPU
    python bench/train_overhead.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import statistics

import torch

from mmtutorial.benchmark import cnn_problem, format_table, mlp_problem, throughput, throughput_table, trainer_overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    torch.set_num_threads(1)

    n, repeats = (4_000, 2) if args.quick else (10_000, 8)
    r = trainer_overhead(n=n, repeats=repeats, rounds=1 if args.quick else 3)
    print(f"CPU, MLP, {n} samples, batch 64, {r['steps_per_run']} steps per run, {repeats} runs each (in turns)")
    for loop in ("hand", "trainer"):
        print(f"  {loop:>8}: step p25 {1e6 * r[loop]['step_p25_s']:7.1f} us, run median {r[loop]['run_median_s']:.3f} s")
    print(f"ratio Trainer / hand-written loop: {r['step_ratio']:.3f} (step p25), {r['run_ratio']:.3f} (run median)"
          "  [target <= 1.05]")

    problem = mlp_problem(n)
    speeds = {key: [] for key in ("device", "dataloader")}
    for i in range(1 if args.quick else 3):
        for loader in (("device", "dataloader") if i % 2 == 0 else ("dataloader", "device")):
            speeds[loader].append(throughput(problem, "trainer", loader, 64, "cpu"))
    device, dataloader = (statistics.median(v) for v in speeds.values())
    print(f"CPU loaders, Trainer, batch 64: DeviceLoader {device:,.0f} samples/s, DataLoader(TensorDataset) "
          f"{dataloader:,.0f} samples/s; ratio {device / dataloader:.2f}")

    if torch.cuda.is_available():
        torch.set_num_threads(max(1, torch.get_num_threads()))
        print(f"\nCUDA: {torch.cuda.get_device_name()}, samples/s (median of 3 runs in turns)")
        rows = throughput_table(cnn_problem(4_000 if args.quick else 20_000), "cuda",
                                precisions=("fp32", "bf16") if torch.cuda.is_bf16_supported() else ("fp32", "fp16"),
                                repeats=1 if args.quick else 3)
        print(format_table(rows))
        print("targets: Tr./hand >= 0.95 in every row; dev./DL >= 2 at batch 1024")
    else:
        print("no CUDA here: the GPU rows are measured by `make gpu-check` on a GPU machine")


if __name__ == "__main__":
    main()
