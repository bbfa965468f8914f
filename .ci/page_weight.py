#!/usr/bin/env python3
"""`make bench`: what each storefront page makes a phone download before it is interactive.

For each page: the HTML, then every executable <script> it names (src) or holds (inline), and
any WASM or module preloads. Sizes are brotli (quality 11, the `brotli` command), the way the
bytes travel. Fails when a storefront page loads the dashboard's bundle or more than
--budget KB of script and WASM together (issue 12: 100 KB). With --dashboard the pages are the
dashboard's own: the budget (issue 12: 400 KB) applies to its bundle (main module, glue, the
chunk loader), and the page's own chunks (split by page, preloaded) are printed beside it.
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
LINK = re.compile(rb"<link\b([^>]*)>", re.S)
# Leptos writes the attributes of a page's chunk preloads in alphabetical order (`href` before
# `rel`), those of the main module's in the usual one: read each attribute on its own.
REL = re.compile(rb'\brel="(?:modulepreload|preload)"')
HREF = re.compile(rb'\bhref="([^"]+)"')


CHUNK = re.compile(r"/pkg/(?:split|chunk)_[^/]*\.wasm$")


def preloads(html):
    out = []
    for attrs in LINK.findall(html):
        href = HREF.search(attrs)
        if REL.search(attrs) and href:
            out.append(href.group(1))
    return out


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
        urls += [u.decode() for u in preloads(html)]
        dashboard = [u for u in urls if u.startswith("/pkg/")]
        # A page's own chunks (split by page): counted apart from the bundle they extend.
        chunks = [u for u in set(urls) if CHUNK.search(u)]
        chunk_bytes = sum(brotli(fetch(args.base + u)) for u in chunks)
        script_bytes = sum(brotli(fetch(args.base + u)) for u in sorted(set(urls) - set(chunks)))
        script_bytes += brotli(inline) if inline else 0
        verdict = "ok"
        if dashboard and not args.dashboard:
            verdict, failed = "LOADS THE DASHBOARD BUNDLE " + " ".join(dashboard), True
        elif script_bytes + (0 if args.dashboard else chunk_bytes) > args.budget * 1024:
            verdict, failed = "OVER BUDGET", True
        extra = ""
        if chunks:
            extra = (f"; + its {len(chunks)} page chunks {chunk_bytes:,d} B"
                     f" = {script_bytes + chunk_bytes:,d} B on first load")
        label = "bundle" if args.dashboard else "script+wasm"
        print(
            f"{path:44s} html {brotli(html):7,d} B   {label} {script_bytes:7,d} B brotli"
            f" (budget {args.budget} KB)  {verdict}{extra}",
            file=sys.stderr,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
