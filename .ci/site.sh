#!/usr/bin/env bash
# Builds the release site (WASM + JS + CSS + public/) into target/site and the release server
# binary, with plain cargo. This is what `cargo leptos build --release` does, minus its 30-minute
# install, so `make test` fits CI's time budget on a new machine. Output names carry a content
# hash and `hash.txt` sits beside the binary, exactly as cargo-leptos' `hash-files` lays them out,
# so the server can send year-long cache headers.
set -euo pipefail
cd "$(dirname "$0")/.."
name=bizmaat
target=${CARGO_TARGET_DIR:-target}
site=target/site
pkg=$site/pkg
export PATH="$PWD/node_modules/.bin:$PATH"

cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
LEPTOS_OUTPUT_NAME=$name cargo build -p server --release

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name "$name" \
  "$target/wasm32-unknown-unknown/wasm-release/frontend.wasm"
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$tmp/${name}_bg.wasm" -o "$tmp/$name.wasm"
cp style/main.css "$tmp/$name.css"

short_hash() { sha256sum "$1" | cut -c1-20; }
js_hash=$(short_hash "$tmp/$name.js")
wasm_hash=$(short_hash "$tmp/$name.wasm")
css_hash=$(short_hash "$tmp/$name.css")

rm -rf "$pkg" && mkdir -p "$pkg"
cp -r public/. "$site/"
cp "$tmp/$name.js" "$pkg/$name.$js_hash.js"
cp "$tmp/$name.wasm" "$pkg/$name.$wasm_hash.wasm"
cp "$tmp/$name.css" "$pkg/$name.$css_hash.css"
# Precompressed copies: ServeDir sends brotli or gzip by Accept-Encoding. brotli (the Debian
# package `make bench` installs) is used when present; it shrinks the WASM a third below gzip.
# The scripts in public/ (the storefront's, Embedded Signup's) get the same copies: /storefront.js
# is on every storefront page.
for f in "$pkg"/* "$site"/*.js; do
  gzip -9 -k -n "$f"
  if command -v brotli >/dev/null; then brotli -k -q 11 "$f"; fi
done
printf 'js: %s\nwasm: %s\ncss: %s\n' "$js_hash" "$wasm_hash" "$css_hash" > "$target/release/hash.txt"
echo "site: $(du -b "$pkg/$name.$wasm_hash.wasm" | cut -f1) bytes of WASM ($(du -b "$pkg/$name.$wasm_hash.wasm.gz" | cut -f1) gzipped)" >&2
