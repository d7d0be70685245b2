"""The SD-1.5-sized UNet2DConditionModel in PyTorch for bench/unet-condition.ts: the same hand-written
re-implementation of diffusers' code the test fixtures come from (scripts/unet2d-condition-fixture.py;
diffusers is not needed), PyTorch's default random init, one no-grad forward per denoising step with
classifier-free guidance (batch 2: conditional and unconditional), 77 context tokens of width 768.
Prints one JSON object: the median seconds of RUNS calls after one warm-up, peak RSS, threads.

usage: python3 bench/unet_condition_torch.py CONFIG SIZE RUNS
"""
import importlib.util
import json
import os
import resource
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "unet_condition_reference", os.path.join(HERE, "..", "scripts", "unet2d-condition-fixture.py")
)
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def main():
    config_path, size, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    cfg = json.load(open(config_path))
    net = reference.UNet2DConditionModel(cfg).eval()
    x = torch.randn(2, cfg["in_channels"], size, size)
    t = torch.tensor([500.0, 500.0])
    context = torch.randn(2, 77, cfg["cross_attention_dim"])
    times = []
    with torch.no_grad():
        net(x, t, context)
        for _ in range(runs):
            start = time.perf_counter()
            net(x, t, context)
            times.append(time.perf_counter() - start)
    json.dump(
        {
            "step": statistics.median(times),
            "times": times,
            "rss MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": torch.get_num_threads(),
            "version": torch.__version__,
            "parameters": sum(p.numel() for p in net.parameters()),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
