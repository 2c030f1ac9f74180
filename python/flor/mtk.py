"""flor.MTK: the older API of FlorDB's README, over the same libflor calls
as flor.loop and flor.checkpointing.

    from flor import MTK as Flor
    Flor.checkpoints(net, optimizer)
    for epoch in Flor.loop(range(5)):
        for data in Flor.loop(trainloader):          # skipped in a replay
            ...
        log_confusion_matrix(net, testloader)

Names.  The objects given to Flor.checkpoints are checkpointed under
"<class>_<position>" (Net_0, SGD_1; positions count on across calls).  A
loop given no name is named from its depth and, among loops at the same
depth, the order in which their lines are first used: "epoch" (the
outermost: the checkpointed main loop), "step" for the first loop nested
in it, "step2" for a second one, "depth2" (then "depth2_2", ...) for
loops nested deeper.  `name=` overrides it.

Flor.loop(iterable, probed=True) is flor's --probe for that loop: in a
replay it runs instead of being skipped.
"""
import sys

from . import _flor

_held = []      # the flor.checkpointing contexts Flor.checkpoints entered
_sites = {}     # depth -> the call sites of unnamed loops, in order of first use
_positions = [0]


def _base(depth):
    if depth == 0:
        return "epoch"
    if depth == 1:
        return "step"
    return "depth%d" % depth


def _loop_name(depth, site):
    sites = _sites.setdefault(depth, [])
    if site not in sites:
        sites.append(site)
    k = sites.index(site)
    base = _base(depth)
    if k == 0:
        return base
    return "%s%d" % (base, k + 1) if depth < 2 else "%s_%d" % (base, k + 1)


class MTK:
    """The seed README's Flor: Flor.checkpoints(*objs) and Flor.loop(it)."""

    @staticmethod
    def checkpoints(*objs):
        """Registers OBJS (a torch Module, an Optimizer, anything flor.checkpointing
        takes) as the state checkpointed in the main loop, from now to the end of the
        script, under the names "<class>_<position>"."""
        named = {}
        for obj in objs:
            named["%s_%d" % (type(obj).__name__, _positions[0])] = obj
            _positions[0] += 1
        ctx = _flor.checkpointing(**named)
        ctx.__enter__()
        _held.append(ctx)

    @staticmethod
    def loop(iterable, probed=False, name=None):
        """flor.loop over ITERABLE, named from its depth unless NAME is given.
        The outermost is the checkpointed main loop; a nested one is skipped in a
        replay where a checkpoint lets it, unless PROBED."""
        if name is None:
            caller = sys._getframe(1)
            name = _loop_name(_flor._depth(), (caller.f_code.co_filename, caller.f_lineno))
        if probed:
            _flor._probe(name)
        return _flor.loop(name, iterable)
