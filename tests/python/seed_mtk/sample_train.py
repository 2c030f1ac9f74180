# The README's "Preparing your Training Script": Flor.checkpoints and two Flor.loops.
from flor import MTK as Flor

import torch
from seed_data import eval, setup

args, trainloader, testloader, optimizer, net, criterion = setup()

Flor.checkpoints(net, optimizer)
for epoch in Flor.loop(range(args.epochs)):
    for data in Flor.loop(trainloader):
        inputs, labels = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        print(f"loss: {loss.item()}")
    eval(net, testloader)
