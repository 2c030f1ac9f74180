# The README's "Hindsight Logging": log_confusion_matrix added after the
# nested loop of the recorded script, which a replay skips.
from flor import MTK as Flor

import torch
from seed_data import eval, log_confusion_matrix, setup, train_step

args, trainloader, testloader, optimizer, net, criterion = setup()

Flor.checkpoints(net, optimizer)
for epoch in Flor.loop(range(args.epochs)):
    for batch in Flor.loop(trainloader):
        train_step(net, optimizer, criterion, batch)
    eval(net, testloader)
    log_confusion_matrix(net, testloader)
