# The README's first sample: wrap the iterator of the main loop with Flor.loop.
from flor import MTK as Flor

import flor
from seed_data import setup

args, trainloader, testloader, optimizer, net, criterion = setup()
inputs, labels = trainloader.dataset.tensors
for epoch in Flor.loop(range(args.epochs)):
    optimizer.zero_grad()
    loss = criterion(net(inputs), labels)
    loss.backward()
    optimizer.step()
    flor.log("loss", loss.item())
