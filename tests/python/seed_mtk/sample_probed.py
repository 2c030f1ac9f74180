# The README's probed sample: histograms inside the nested loop, which a
# replay must step into (probed=True).
from flor import MTK as Flor

import torch
from seed_data import eval, log_confusion_matrix, log_histograms, setup, train_step

args, trainloader, testloader, optimizer, net, criterion = setup()

Flor.checkpoints(net, optimizer)
for epoch in Flor.loop(range(args.epochs)):
    for batch in Flor.loop(trainloader, probed=True):
        train_step(net, optimizer, criterion, batch)
        log_histograms(net)
    eval(net, testloader)
    log_confusion_matrix(net, testloader)
