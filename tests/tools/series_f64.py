"""series_f64.py -- reads flor serve's /api/series?format=f64 (docs/serve.md)
for the tests: "FLORF64\\n", the name's length L (uint64) and its L bytes
padded to a multiple of 8, then little-endian float64 words: the number
of series, then per series its run, N, H, D, its N values, H hindsight
ranges [first, last], D divergent positions.

    python3 series_f64.py compare BIN JSON DB NAME
        checks that BIN holds the series of JSON (/api/series, same
        request) bit for bit, and that its values are those of NAME in
        the database DB (logs, inside loops, by run then context), bit for
        bit; prints "N series, M values".
"""
import json
import sqlite3
import struct
import sys

MAGIC = b"FLORF64\n"


def parse_named(data):
    """The name and the series of BIN, as dicts: run, y (floats), replay,
    divergences."""
    if data[:8] != MAGIC or len(data) < 16 or len(data) % 8:
        raise ValueError("not FLORF64 data: %r" % data[:16])
    (length,) = struct.unpack("<Q", data[8:16])
    name = data[16:16 + length].decode()
    start = 16 + (length + 7) // 8 * 8
    if data[16 + length:start].strip(b"\0"):
        raise ValueError("FLORF64 data: the name's padding is not zeros")
    w = struct.unpack("<%dd" % ((len(data) - start) // 8), data[start:])
    k, out = 1, []
    for _ in range(int(w[0])):
        run, n, h, d = (int(x) for x in w[k:k + 4])
        k += 4
        y = list(w[k:k + n])
        k += n
        replay = [[int(w[k + 2 * i]), int(w[k + 2 * i + 1])] for i in range(h)]
        k += 2 * h
        divs = [int(x) for x in w[k:k + d]]
        k += d
        out.append({"run": run, "y": y, "replay": replay, "divergences": divs})
    if k != len(w):
        raise ValueError("FLORF64 data: %d words, %d read" % (len(w), k))
    return name, out


def parse(data):
    """The series of BIN (parse_named's, without the name)."""
    return parse_named(data)[1]


def bits(v):
    return struct.pack("<d", v)


def logged(db, name):
    """The values of NAME logged inside loops, per run, in context order, as stored."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = con.execute("SELECT run_id, value FROM logs WHERE name = ? AND ctx_id IS NOT NULL"
                       " ORDER BY run_id, ctx_id, rowid", (name,)).fetchall()
    out = {}
    for run, v in rows:
        out.setdefault(run, []).append(float("nan") if isinstance(v, str) else float(v))
    return out


def compare(binary, text, db, name):
    name_got, got = parse_named(open(binary, "rb").read())
    assert name_got == name, (name_got, name)
    want = json.load(open(text))["series"]
    assert [s["run"] for s in got] == [s["run"] for s in want], (got, want)
    stored = logged(db, name)
    assert all(s["run"] in stored for s in got), (sorted(stored), got)
    values = 0
    for g, j in zip(got, want):
        jy = [float(v) for v in j["y"]]  # "nan", "inf", "-inf" included
        assert [bits(v) for v in g["y"]] == [bits(v) for v in jy], (g["run"], g["y"], jy)
        assert [bits(v) for v in g["y"]] == [bits(v) for v in stored[g["run"]]], g["run"]
        assert g["replay"] == j["replay"] and g["divergences"] == j["divergences"], (g, j)
        values += len(g["y"])
    print("%d series, %d values" % (len(got), values))


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "compare":
        sys.exit(__doc__)
    compare(*sys.argv[2:])
