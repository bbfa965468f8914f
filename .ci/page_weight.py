#!/usr/bin/env python3
"""`make bench`: what each storefront page makes a phone download before it is interactive.

For each page: the HTML, then every executable <script> it names (src) or holds (inline), and
any WASM or module preloads. Sizes are brotli (quality 11, the `brotli` command), the way the
bytes travel. Fails when a storefront page loads the dashboard's bundle or more than
--budget KB of script and WASM together (issue 12: 100 KB). With --dashboard the pages are the
dashboard's own (they load its main module and their page's chunk): only the budget applies
(issue 12: 400 KB).
"""
import argparse
import re
import subprocess
import sys
import urllib.request


def fetch(url):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.read()


def brotli(data):
    return len(subprocess.run(["brotli", "-c", "-q", "11"], input=data, capture_output=True, check=True).stdout)


SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script>", re.S)
PRELOAD = re.compile(rb"<link\b[^>]*rel=\"(?:modulepreload|preload)\"[^>]*href=\"([^\"]+)\"", re.S)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--budget", type=int, default=100, help="KB of script + WASM per page")
    ap.add_argument("--dashboard", action="store_true", help="pages of the dashboard app")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    failed = False
    for path in args.paths:
        html = fetch(args.base + path)
        urls, inline = [], b""
        for attrs, body in SCRIPT.findall(html):
            if b"application/ld+json" in attrs or b"application/json" in attrs:
                continue
            src = re.search(rb'src="([^"]+)"', attrs)
            if src:
                urls.append(src.group(1).decode())
            else:
                inline += body
        urls += [u.decode() for u in PRELOAD.findall(html)]
        dashboard = [u for u in urls if u.startswith("/pkg/")]
        script_bytes = sum(brotli(fetch(args.base + u)) for u in sorted(set(urls)))
        script_bytes += brotli(inline) if inline else 0
        verdict = "ok"
        if dashboard and not args.dashboard:
            verdict, failed = "LOADS THE DASHBOARD BUNDLE " + " ".join(dashboard), True
        elif script_bytes > args.budget * 1024:
            verdict, failed = "OVER BUDGET", True
        print(
            f"{path:44s} html {brotli(html):7,d} B   script+wasm {script_bytes:7,d} B brotli"
            f" (budget {args.budget} KB)  {verdict}",
            file=sys.stderr,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
