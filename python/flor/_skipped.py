"""Why a replay stopped on an uncaught exception, and what would fix it.

A replay runs the checkpointed loop (the outermost flor.loop) and skips
the flor.loops nested in it unless they are probed (--probe LOOP).  A
value the program computes in such a loop and uses after it is then
missing: a NameError (or UnboundLocalError) for a name first assigned in
the loop, or an AttributeError on None for one that was None before it (a
gradient, before loss.backward()).  replay_error() gives the text the
replay keeps as its error (replays.error, the replay's report, the
`error` column of flor.replay()'s frame): the exception, and, when the
missing value is assigned in a loop the replay skipped, that loop and the
--probe option that runs it.  It reads the source of the frame that
raised; it never raises itself.
"""
import ast
import os
import re


def replay_error(etype, value, tb, argv):
    """'Type: message', with ': it is computed in loop ...' when it can tell."""
    text = str(value) if value is not None else ""
    error = f"{etype.__name__}: {text}" if text else etype.__name__
    try:
        hint = _hint(etype, value, tb, _probed(argv))
    except Exception:  # a hint is a courtesy: the error stays as it is
        hint = None
    return f"{error}: {hint}" if hint else error


def _probed(argv):
    """The loops --probe (or FLOR_PROBE) names: they run in the replay."""
    names = set(filter(None, os.environ.get("FLOR_PROBE", "").split(",")))
    for i, a in enumerate(argv[:-1]):
        if a == "--probe":
            names.update(filter(None, argv[i + 1].split(",")))
    return names


def _hint(etype, value, tb, probed):
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = tb.tb_frame.f_code.co_filename
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    line = tb.tb_lineno
    skipped = [lp for lp in _nested_loops(tree)
               if lp.name not in probed and not _holds_line(lp.node, line)]
    if issubclass(etype, NameError):
        name = getattr(value, "name", None) or _quoted(str(value))
        found = _assigning(skipped, probed, lambda n: _assigns_name(n, name))
        return _advice(found) if found else None
    if issubclass(etype, AttributeError) and "'NoneType'" in str(value):
        expr = _none_expression(tree, tb, getattr(value, "name", None))
        if expr is None:
            return None
        if isinstance(expr, ast.Attribute):
            attr = expr.attr
            found = _assigning(skipped, probed, lambda n: _assigns_attr(n, attr))
        elif isinstance(expr, ast.Name):
            found = _assigning(skipped, probed, lambda n: _assigns_name(n, expr.id))
        else:
            return None
        if found:
            return _advice(found, f"{ast.unparse(expr)} is None: ")
    return None


def _advice(chain, lead=""):
    """'it is computed in loop 'step', which replay skips; replay with --probe step'."""
    names = [lp.name for lp in chain]
    where = f"loop '{names[0]}'" if len(names) == 1 else \
        "loops " + " and ".join(f"'{n}'" for n in names)
    probes = " ".join(f"--probe {n}" for n in names)
    return f"{lead}it is computed in {where}, which replay skips; replay with {probes}"


class _Loop:
    def __init__(self, name, node, parents):
        self.name, self.node, self.parents = name, node, parents


def _loop_name(node):
    """NAME of `for ... in flor.loop("NAME", ...)` (or loop(...)), else None."""
    if not isinstance(node, (ast.For, ast.AsyncFor)) or not isinstance(node.iter, ast.Call):
        return None
    f = node.iter.func
    called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    args = node.iter.args
    if called == "loop" and args and isinstance(args[0], ast.Constant) \
            and isinstance(args[0].value, str):
        return args[0].value
    return None


def _nested_loops(tree):
    """The flor loops nested in another flor loop (those a replay skips),
    each with the skipped loops around it, outermost first."""
    out = []

    def walk(node, chain):
        name = _loop_name(node)
        if name is not None:
            if chain:  # inside the checkpointed loop
                out.append(_Loop(name, node, list(chain[1:])))
            chain = chain + [_Loop(name, node, [])]
        for child in ast.iter_child_nodes(node):
            walk(child, chain)

    walk(tree, [])
    return out


def _holds_line(node, line):
    return node.lineno <= line <= (node.end_lineno or node.lineno)


def _assigning(skipped, probed, assigns):
    """The skipped loops that must run for a statement in their body that
    ASSIGNS to run: the innermost one holding it and the loops around it
    that are not PROBED, outermost first; [] when none."""
    best = None
    for lp in skipped:
        if any(assigns(n) for stmt in lp.node.body for n in ast.walk(stmt)):
            if best is None or len(lp.parents) > len(best.parents):
                best = lp
    return [] if best is None else [p for p in best.parents if p.name not in probed] + [best]


def _assigns_name(node, name):
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id == name
    return False


def _assigns_attr(node, attr):
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
        return node.attr == attr
    # PyTorch fills .grad in backward()
    if attr == "grad" and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "backward"
    return False


def _quoted(message):
    m = re.search(r"'([^']+)'", message)
    return m.group(1) if m else ""


def _none_expression(tree, tb, attr):
    """The expression that was None: X in the X.ATTR that raised."""
    code, last = tb.tb_frame.f_code, tb.tb_lasti
    pos = None
    for k, p in enumerate(code.co_positions()):
        if 2 * k == last:
            pos = p
            break
    candidates = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (attr is None or node.attr == attr) \
                and getattr(node, "lineno", None) == tb.tb_lineno:
            candidates.append(node)
    if pos and pos[2] is not None:
        exact = [n for n in candidates if n.col_offset == pos[2] or
                 (n.col_offset >= pos[2] and n.end_col_offset <= (pos[3] or 10 ** 9))]
        candidates = exact or candidates
    return candidates[0].value if candidates else None
