"""A DistributedDataParallel trainer for the tests of runs of several
processes (test_ddp.py): gloo on the CPU, one process per rank, started
with the environment torchrun gives its workers (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT...).  A tiny classifier of a seeded random data
set, split between the ranks by a DistributedSampler; 3 epochs, the model
and the optimizer checkpointed by flor.  Each rank logs the loss of its own
shard at each step; test_ddp.py puts a statement in place of the line
marked HINDSIGHT after the run."""
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

import flor

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()

torch.manual_seed(0)
data = TensorDataset(torch.randn(256, 8), torch.randint(0, 3, (256,)))
sampler = DistributedSampler(data, shuffle=True, seed=1)
loader = DataLoader(data, batch_size=16, sampler=sampler)
model = DistributedDataParallel(torch.nn.Sequential(
    torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)))
opt = torch.optim.SGD(model.parameters(), lr=flor.arg("lr", 0.1), momentum=0.9)

with flor.checkpointing(model=model, optimizer=opt):
    for epoch in flor.loop("epoch", range(3)):
        sampler.set_epoch(epoch)
        for x, y in flor.loop("step", loader):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            flor.log("loss", loss.item())
        # HINDSIGHT
        print(f"rank {rank} epoch {epoch} done", flush=True)

dist.destroy_process_group()
