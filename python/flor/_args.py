"""flor.args(namespace): every attribute of an argparse.Namespace (or every
key of a dict) recorded as a hyperparameter in one call, each read through
flor.arg, so that `--kwargs NAME=VALUE` overrides it and a replay gets the
recorded value.  The namespace is updated in place and returned:

    args = flor.args(parser.parse_args())
"""
import numbers

from . import _flor

_TYPED = (bool, int, float, str, type(None))


def args(namespace):
    """Records each attribute of NAMESPACE (an argparse.Namespace, any object
    with a __dict__, or a dict) as the arg of that name, in order, and
    returns NAMESPACE with the values flor.arg gave: --kwargs overrides, or
    in a replay the recorded values.  bool, int, float, str and None keep
    their types (an override of a None is a str; numpy's numbers become
    int or float); any other value is recorded as its str() and left as it
    is unless --kwargs overrides it, which makes it the str given."""
    if isinstance(namespace, dict):
        fields = namespace
    else:
        try:
            fields = vars(namespace)
        except TypeError:
            raise TypeError("flor.args: expected an argparse.Namespace or a dict, not "
                            f"{type(namespace).__name__}") from None
    for name, value in list(fields.items()):
        if not isinstance(name, str):
            raise TypeError(f"flor.args: the names must be str, not {type(name).__name__}")
        if not isinstance(value, _TYPED) and isinstance(value, numbers.Real):
            value = int(value) if isinstance(value, numbers.Integral) else float(value)
        if isinstance(value, _TYPED) and not (isinstance(value, int) and
                                              not -2**63 <= value < 2**63):
            fields[name] = _flor.arg(name, value)
            continue
        text = str(value)
        given = _flor.arg(name, text)
        if given != text:
            fields[name] = given
    return namespace
