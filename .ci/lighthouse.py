#!/usr/bin/env python3
"""`make bench`: Lighthouse (mobile, the default) on storefront pages with Debian's Chromium.

Prints the four category scores and LCP / TBT / CLS per page. Lighthouse 12.2.3 is the last
release that runs on Debian's Node 20; `make bench` installs it on first use (npm, not saved).
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    lighthouse, base, *paths = sys.argv[1:]
    chrome = subprocess.run(["sh", "-c", "command -v chromium"], capture_output=True, text=True).stdout.strip()
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "report.json")
            run = subprocess.run(
                [lighthouse, base + path, "--quiet", "--output=json", f"--output-path={out}",
                 "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
                env={**os.environ, "CHROME_PATH": chrome}, capture_output=True, text=True,
            )
            if run.returncode != 0 or not os.path.exists(out):
                print(f"{path}: lighthouse failed: {run.stderr[-500:]}", file=sys.stderr)
                continue
            with open(out) as f:
                r = json.load(f)
        c, a = r["categories"], r["audits"]
        score = lambda k: round((c[k]["score"] or 0) * 100)
        print(
            f"{path:40s} performance {score('performance'):3d}  accessibility {score('accessibility'):3d}"
            f"  best practices {score('best-practices'):3d}  SEO {score('seo'):3d}"
            f"   LCP {a['largest-contentful-paint']['numericValue'] / 1000:.2f} s"
            f"  TBT {a['total-blocking-time']['numericValue']:.0f} ms"
            f"  CLS {a['cumulative-layout-shift']['numericValue']:.3f}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
