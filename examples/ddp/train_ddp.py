"""A tiny DistributedDataParallel training on CPU, for ``configs/ddp.yaml``.

torchrun starts one process per worker and tells each who it is through the environment:
``RANK`` and ``WORLD_SIZE`` (all workers of all nodes), ``LOCAL_RANK`` (on this node),
``GROUP_RANK`` (the node), ``MASTER_ADDR`` / ``MASTER_PORT`` (where the process group meets).
`train` joins the group with the ``gloo`` backend (CPU; no GPU needed), fits a linear model to
synthetic data, each rank on its own shard, and prints its loss at every step::

    [ddp] rank=3/4 local_rank=1 node=1 step=2 loss=11.2077

DDP averages the gradients over the ranks, so every rank ends with the same weights: the last
line of each rank checks it against rank 0's (``weights in sync``) and names the node (Slurm's
``SLURMD_NODENAME``, else the host name). Without torchrun (no
``WORLD_SIZE``) it trains alone, without a process group.

torch is imported inside `train`, so nemorun can validate and compile the spec where torch is
not installed; the job needs it (``pip install 'nemorun[torch]'``, torch pinned to 2.13.0).
"""

from __future__ import annotations

import os
import socket
import sys


def say(line: str) -> None:
    """Print ``line`` with one write: the workers share their node's output file, and
    ``print`` writes the text and the line break separately (under ``python -u``), so lines
    of different ranks would mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def train(
    steps: int = 5,
    lr: float = 0.05,
    batch_size: int = 16,
    features: int = 4,
    seed: int = 0,
) -> float:
    """Train a linear model with DDP on CPU and return this rank's last loss.

    Args:
        steps: Optimisation steps.
        lr: SGD learning rate.
        batch_size: Examples per step on each rank.
        features: Input dimension of the synthetic data.
        seed: Seed of the initial weights (the same on every rank) and of the data (offset by
            the rank, so each rank sees its own shard).
    """
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)  # several workers share a node's few cores
    distributed = "WORLD_SIZE" in os.environ
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    node = os.environ.get("GROUP_RANK", "0")
    if distributed:
        dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE

    torch.manual_seed(seed)
    layer = torch.nn.Linear(features, 1)
    model = DistributedDataParallel(layer) if distributed else layer
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    data = torch.Generator().manual_seed(seed + 1 + rank)
    true_w = torch.arange(1, features + 1, dtype=torch.float32)
    loss = torch.tensor(float("nan"))
    for step in range(1, steps + 1):
        x = torch.randn(batch_size, features, generator=data)
        y = x @ true_w + 0.5
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        optimizer.zero_grad()
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        say(
            f"[ddp] rank={rank}/{world} local_rank={local_rank} node={node} step={step} "
            f"loss={loss.item():.4f}"
        )

    weights = torch.cat([p.detach().flatten() for p in layer.parameters()])
    if distributed:
        reference = weights.clone()
        dist.broadcast(reference, src=0)
        in_sync = bool(torch.equal(reference, weights))
        dist.destroy_process_group()
    else:
        in_sync = True
    host = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    say(
        f"[ddp] rank={rank}/{world} done on {host}: weights "
        f"{'in sync' if in_sync else 'DIFFER'} ({', '.join(f'{w:.3f}' for w in weights.tolist())})"
    )
    return float(loss.item())
