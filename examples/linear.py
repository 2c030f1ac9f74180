"""linear.py -- the "hello world" of deep learning, recorded by flor.

A two-layer perceptron (784 -> hidden -> 10, ReLU) learns to tell apart the
ten kinds of clothing in Fashion-MNIST, trained with Adam in PyTorch.  It is
the shape of FlorDB's tutorial script, and runs unmodified under it:

    python3 examples/linear.py                              # the defaults below
    python3 examples/linear.py --kwargs hidden=75 lr=0.01   # overridden
    python3 -m flor dataframe                               # one row per run
    python3 -m flor dataframe loss accuracy                 # the curves

flor records the hyperparameters (flor.arg), the batch loss every
print_every steps with its (epoch, step), the test accuracy after every
epoch, and the final accuracy; the model and the optimizer are
checkpointed at the end of epochs.

Hyperparameters (--kwargs NAME=VALUE): hidden 500, epochs 5, batch_size 32,
lr 1e-3, seed 78, print_every 500, ntrain 0 (all 60000 training images, or
the first N), ntest 0 (all 10000 test images, or the first N).

The data is read from /usr/share/datasets/fashion-mnist (Debian package
dataset-fashion-mnist), or from $FLOR_DATA: the four gzip'd IDX files.

Speed: two torch threads and a single-threaded BLAS (OPENBLAS_NUM_THREADS,
set before torch is imported unless already set); Debian's torch wants
libopenblas0-pthread.  An epoch takes about 4 s on a laptop core.
"""
import gzip
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import flor  # noqa: E402

DATA = os.environ.get("FLOR_DATA") or "/usr/share/datasets/fashion-mnist"


def read_idx(name, offset, limit):
    """The rows of one gzip'd IDX file (OFFSET bytes of header), at most LIMIT (0: all)."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
    return data if limit == 0 else data[: limit * (784 if offset == 16 else 1)]


def load(images, labels, limit):
    x = read_idx(images, 16, limit).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(labels, 8, limit).astype(np.int64)
    return torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


class NeuralNet(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def evaluate(model, loader):
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predicted = model(images).argmax(1)
            correct += (predicted == labels).sum().item()
            total += labels.size(0)
    return correct, total


def main():
    torch.set_num_threads(2)
    hidden_size = flor.arg("hidden", default=500)
    num_epochs = flor.arg("epochs", 5)
    batch_size = flor.arg("batch_size", 32)
    learning_rate = flor.arg("lr", 1e-3)
    seed = flor.arg("seed", 78)
    print_every = flor.arg("print_every", 500)
    ntrain = flor.arg("ntrain", 0)
    ntest = flor.arg("ntest", 0)
    torch.manual_seed(seed)
    np.random.seed(seed)

    train = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", ntrain)
    test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", ntest)
    train_loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, shuffle=False)

    model = NeuralNet(784, hidden_size, 10)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    print(f"linear: {len(train)} training and {len(test)} test images, 784-{hidden_size}-10 MLP, "
          f"{num_epochs} epochs of {len(train_loader)} steps", flush=True)

    with flor.checkpointing(model=model, optimizer=optimizer):
        for epoch in flor.loop("epoch", range(num_epochs)):
            t0 = time.perf_counter()
            model.train()
            for i, (images, labels) in enumerate(flor.loop("step", train_loader)):
                outputs = model(images)
                loss = criterion(outputs, labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if i % print_every == 0:
                    print(f"epoch {epoch} step {i} loss {flor.log('loss', loss.item())}")
            t1 = time.perf_counter()
            model.eval()
            correct, total = evaluate(model, test_loader)
            accuracy = flor.log("accuracy", correct / total)
            print(f"epoch {epoch} accuracy {accuracy} (train {t1 - t0:.2f} s, "
                  f"eval {time.perf_counter() - t1:.2f} s)", flush=True)

    correct, total = evaluate(model, test_loader)
    flor.log("correct", correct)
    print(f"final accuracy {flor.log('accuracy', correct / total)}")


if __name__ == "__main__":
    main()
