"""serve_page_time.py URL POINTS [LOADS]: loads flor serve's page at URL in
headless Chromium LOADS times (default 3, each in a fresh browser) and
prints the median time from the page's request to the curves on the
screen (window.florDrawnAt: performance.now() at the second animation
frame after uPlot's first draw, once the browser has rasterized the lines),
checking that the plot holds POINTS values.  For bench/bench_serve.sh."""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
from webdriver_client import Browser  # noqa: E402


def main():
    url, points = sys.argv[1], int(sys.argv[2])
    loads = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    times = []
    for _ in range(loads):
        b = Browser()
        try:
            b.get(url)
            b.wait("window.florDrawnAt", timeout=120, what="the curves")
            got = int(b.js("return +document.getElementById('chart').dataset.points;"))
            if got != points:
                raise SystemExit("serve_page_time: %d points drawn, expected %d" % (got, points))
            times.append(b.js("return window.florDrawnAt;") / 1000)
        finally:
            b.close()
    print("%.3f s (median of %d loads: %s)" % (statistics.median(times), loads,
                                               ", ".join("%.3f" % t for t in times)))


if __name__ == "__main__":
    main()
