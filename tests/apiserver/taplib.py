"""TAP helpers shared by the agent tests that use the API-server double."""
import time
import urllib.request

results = []


def tap(ok, desc):
    """One TAP line; returns ok."""
    results.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", len(results), desc), flush=True)
    return ok


def eventually(fn, timeout=8.0, step=0.1):
    """True as soon as fn() is; False after timeout seconds (exceptions count as false)."""
    end = time.time() + timeout
    while True:
        try:
            if fn():
                return True
        except Exception:
            pass
        if time.time() > end:
            return False
        time.sleep(step)


def scrape(url):
    """A Prometheus text page as {"name{labels}": value}."""
    with urllib.request.urlopen(url, timeout=3) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out
