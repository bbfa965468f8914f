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

# Relocations let the splitting step below cut the linked module at the `#[lazy]` points
# (dashboard pages load their code when first opened). Only the WASM target gets the flag.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Clink-args=--emit-relocs" \
  cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
LEPTOS_OUTPUT_NAME=$name cargo build -p server --release
cargo build -q -p wasm-split-build --release

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
short_hash() { sha256sum "$1" | cut -c1-20; }
linked="$target/wasm32-unknown-unknown/wasm-release/frontend.wasm"
# The loader's name is fixed before wasm-bindgen (the main module imports it by name): the
# linked module's hash, so a new build never reuses a cached loader.
split_hash=$(short_hash "$linked")
"$target/release/wasm-split-build" split "$linked" "$tmp/split" "$tmp/main.wasm" "$split_hash" "$name.js"
wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
  --out-dir "$tmp" --out-name "$name" "$tmp/main.wasm"
# wasm-opt warns once per chunk about a name subsection it does not know (the compiler's
# label names); that line is dropped, anything else it says is shown, and a failure stops the build.
opt() {
  local log
  log=$(mktemp)
  if ! wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$1" -o "$2" 2>"$log"; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  grep -v 'unknown name subsection' "$log" >&2 || true
  rm -f "$log"
}
opt "$tmp/${name}_bg.wasm" "$tmp/$name.wasm"
# The chunks of 20 KB and more (the pages, about 30) are optimised too, two at a time; the 300
# or so smaller ones (shared functions, 0.4 MB in all) are left as the compiler made them: the
# npm package's wasm-opt takes about two seconds per file, mostly to start.
export -f opt
find "$tmp/split" -name '*.wasm' -size +20k -print0 | xargs -0 -P 2 -I{} bash -c 'opt "$1" "$1"' _ {}
cp style/main.css "$tmp/$name.css"

js_hash=$(short_hash "$tmp/$name.js")
wasm_hash=$(short_hash "$tmp/$name.wasm")
css_hash=$(short_hash "$tmp/$name.css")

rm -rf "$pkg" && mkdir -p "$pkg"
cp -r public/. "$site/"
cp "$tmp/$name.js" "$pkg/$name.$js_hash.js"
cp "$tmp/$name.wasm" "$pkg/$name.$wasm_hash.wasm"
cp "$tmp/$name.css" "$pkg/$name.$css_hash.css"
cp "$tmp"/split/* "$pkg/"
manifest_hash=$("$target/release/wasm-split-build" finish "$pkg" "$split_hash" "$name.js" "$name.$js_hash.js")
# Precompressed copies: ServeDir sends brotli or gzip by Accept-Encoding. brotli (the Debian
# package `make bench` installs) is used when present; it shrinks the WASM a third below gzip.
# The scripts in public/ (the storefront's, Embedded Signup's) get the same copies: /storefront.js
# is on every storefront page.
for f in "$pkg"/* "$site"/*.js; do
  gzip -9 -k -n -f "$f"
  if command -v brotli >/dev/null; then brotli -k -f -q 11 "$f"; fi
done
printf 'js: %s\nwasm: %s\ncss: %s\nmanifest: %s\nsplit: %s\n' "$js_hash" "$wasm_hash" "$css_hash" \
  "$manifest_hash" "$split_hash" > "$target/release/hash.txt"
echo "site: $(du -b "$pkg/$name.$wasm_hash.wasm" | cut -f1) bytes of WASM ($(du -b "$pkg/$name.$wasm_hash.wasm.gz" | cut -f1) gzipped)" >&2
