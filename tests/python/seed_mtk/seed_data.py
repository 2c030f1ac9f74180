"""What the seed README's samples leave to the user, shared by the sample
scripts: the data (a slice of fashion-mnist, or seeded random images where
it is not installed), a small net, its optimizer and criterion, one
training step, and the README's eval() and log_confusion_matrix()."""
import argparse
import gzip
import os

import numpy as np
import torch

import flor

FMNIST = "/usr/share/datasets/fashion-mnist"


def _idx(name, offset, count, width):
    with gzip.open(os.path.join(FMNIST, name)) as f:
        raw = f.read(offset + count * width)
    return np.frombuffer(raw, np.uint8, count * width, offset)


def _images(split, n):
    if os.path.isdir(FMNIST):
        x = _idx(f"{split}-images-idx3-ubyte.gz", 16, n, 784).reshape(n, 784) / 255.0
        y = _idx(f"{split}-labels-idx1-ubyte.gz", 8, n, 1)
    else:
        rng = np.random.RandomState(1 if split == "train" else 2)
        x, y = rng.rand(n, 784), rng.randint(0, 10, n)
    return torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float32),
                                          torch.tensor(y, dtype=torch.int64))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def setup():
    """The script's flags (its own: --epochs) and the objects the README types."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    trainloader = torch.utils.data.DataLoader(_images("train", 512), batch_size=64, shuffle=True)
    testloader = torch.utils.data.DataLoader(_images("t10k", 256), batch_size=128)
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()
    return args, trainloader, testloader, optimizer, net, criterion


def train_step(net, optimizer, criterion, data):
    inputs, labels = data
    optimizer.zero_grad()
    loss = criterion(net(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss


def eval(net, loader):
    with torch.no_grad():
        right = sum((net(x).argmax(1) == y).sum().item() for x, y in loader)
    flor.log("acc", right / len(loader.dataset))


def log_confusion_matrix(net, loader):
    # the dataset's tensors, not an iterator of the loader: each iterator
    # draws a seed from torch's RNG, and a statement added in hindsight
    # must not change what the training that follows draws
    x, y = loader.dataset.tensors
    matrix = np.zeros((10, 10), dtype=np.int64)
    with torch.no_grad():
        out = net(x)
        test_loss = torch.nn.functional.cross_entropy(out, y, reduction="sum").item()
    np.add.at(matrix, (y.numpy(), out.argmax(1).numpy()), 1)
    flor.log("confusion", matrix.tolist())
    flor.log("test_loss", test_loss)


def log_histograms(net):
    """What TensorBoard's histograms would plot: the first layer's gradient."""
    flor.log("grad_hist", torch.histc(net.fc1.weight.grad, bins=8).tolist())
    flor.log("grad_norm", net.fc1.weight.grad.norm().item())
