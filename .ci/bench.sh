#!/usr/bin/env bash
# `make bench`: storefront throughput against nginx serving the same HTML from disk.
#
#  1. a fresh database with the demo shop grown to 500 products;
#  2. three release servers on loopback: no caches at all (two queries and the router's render
#     per page), uncached (whole responses not kept: every page rendered per request from its
#     data in memory), cached (whole responses kept as bytes);
#  3. the product page and shop home saved as files and served by nginx (Debian package);
#  4. wrk loads each target with the same settings; we print req/s, p50, p99 and app ÷ nginx;
#  5. the release WASM size, raw and brotli, and what each storefront page downloads before it
#     is interactive (.ci/page_weight.py: script + WASM ≤ 100 KB brotli, no dashboard bundle),
#     and Lighthouse mobile scores for home, category and product (.ci/lighthouse.py);
#  6. catalog import: a 10,000-variant Shopify export previewed and imported
#     (server/benches/import.rs; BENCH_ONLY=import runs this part alone);
#  6b. the agent's product search at 10,000 products (server/benches/retrieval.rs;
#     BENCH_ONLY=retrieval runs it alone); 6c. the agent's overhead in an AI turn
#     (server/benches/eval.rs with EVAL_ONLY=overhead; BENCH_ONLY=agent);
#  7. the WhatsApp webhook (.ci/webhook_bench.py): signed batches at 320 requests/s for
#     BENCH_WA_SECONDS (60), then with 10 % redeliveries, then with the server SIGKILLed and
#     restarted mid-burst; fails when a message is lost or stored twice.
# A benchmark, not a test: numbers depend on the machine. Record them in README.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# One run at a time: a second would drop `bizmaat_bench` and take the ports under the first.
exec 9>"${TMPDIR:-/tmp}/bizmaat-bench.lock"
flock -n 9 || { echo "make bench is already running on this machine" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/server"
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
work=$(mktemp -d)
# nginx's workers run as `nobody`: mktemp's 0700 directory made every nginx answer a 403 (a
# 153-byte error page measured as "the same HTML" until 7 December 2026, late night).
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -f "$work/wa.pid" ] && kill "$(cat "$work/wa.pid")" 2>/dev/null || true
  rm -rf "$work"
  # Dropped here rather than only at the start: dropping the last run's ~180 MB webhook database
  # seconds before the load slowed the first run's inbox processing tenfold (measured), which
  # is the harness, not the product.
  if [ -n "${server_url:-}" ]; then
    for d in bizmaat_bench bizmaat_bench_wa; do
      psql "$server_url/postgres" -qc "drop database if exists $d with (force)" >/dev/null 2>&1 || true
    done
  fi
}
trap cleanup EXIT

server_url=${TEST_DATABASE_URL:-${DATABASE_URL:-$(.ci/db.sh)/postgres}}
server_url=${server_url%/*}
db="$server_url/bizmaat_bench"
psql "$server_url/postgres" -qc "drop database if exists bizmaat_bench with (force)" >/dev/null

if [ "${BENCH_ONLY:-}" = import ] || [ -z "${BENCH_ONLY:-}" ]; then
  DATABASE_URL="$server_url/postgres" cargo bench -q -p server --bench import >&2
  [ "${BENCH_ONLY:-}" = import ] && exit 0
fi

if [ "${BENCH_ONLY:-}" = retrieval ] || [ -z "${BENCH_ONLY:-}" ]; then
  DATABASE_URL="$server_url/postgres" cargo bench -q -p server --bench retrieval >&2
  [ "${BENCH_ONLY:-}" = retrieval ] && exit 0
fi

# The agent's own share of an AI turn, beside a fake model taking 600 ms per call
# (server/benches/eval.rs, the overhead part alone).
if [ "${BENCH_ONLY:-}" = agent ] || [ -z "${BENCH_ONLY:-}" ]; then
  EVAL_ONLY=overhead TEST_DATABASE_URL="$server_url/postgres" cargo test -q -p server --bench eval >&2
  [ "${BENCH_ONLY:-}" = agent ] && exit 0
fi

# BENCH_ONLY=whatsapp skips the storefront part (the webhook benchmark alone takes ~10 minutes);
# BENCH_ONLY=storefront runs the storefront part alone.
if [ "${BENCH_ONLY:-}" != whatsapp ]; then

start() { # port cache_entries
  APP_ENV=development DATABASE_URL="$db" HOST=127.0.0.1 PORT=$1 SEED_DEMO=true RUST_LOG=warn \
    STOREFRONT_CACHE_ENTRIES=$2 MEDIA_DIR="$work/media" LEPTOS_SITE_ROOT="$root/target/site" \
    LEPTOS_OUTPUT_NAME=bizmaat LEPTOS_HASH_FILES=true "$bin" >"$work/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.5; done
  echo "server on port $1 did not start:" >&2; cat "$work/server-$1.log" >&2; exit 1
}

start 3201 0
# Grow the demo shop to 500 active products (copies of the seeded ones, with their images).
psql "$db" -q <<'SQL'
with shop as (select id from shops where slug = 'lagos-looms'),
src as (select p.*, row_number() over (order by p.created_at) as rn from products p join shop on p.shop_id = shop.id),
n as (select generate_series(1, 500 - (select count(*) from src)) as i)
insert into products (id, shop_id, title, slug, description, price_minor, compare_at_minor, sku, track_stock, stock, status)
select gen_random_uuid(), src.shop_id, src.title || ' No. ' || n.i, src.slug || '-' || n.i, src.description,
       src.price_minor + n.i * 100, src.compare_at_minor, null, src.track_stock, src.stock, 'active'
from n join src on src.rn = 1 + (n.i % (select count(*) from src));
-- every product is sold through its variants; the copies are sold in one form
insert into product_variants (id, shop_id, product_id, price_minor, compare_at_minor, track_stock, stock)
select p.id, p.shop_id, p.id, p.price_minor, p.compare_at_minor, p.track_stock, p.stock from products p
where not exists (select 1 from product_variants v where v.product_id = p.id);
insert into images (id, shop_id, product_id, backend, storage_key, version, width, height, bytes, format, alt, position)
select gen_random_uuid(), p.shop_id, p.id, i.backend, i.storage_key, i.version, i.width, i.height, i.bytes, i.format, p.title, 0
from products p
join products orig on orig.shop_id = p.shop_id and p.slug like orig.slug || '-%' and orig.sku is not null
join images i on i.product_id = orig.id
where not exists (select 1 from images x where x.product_id = p.id);
update shops set catalog_version = catalog_version + 1 where slug = 'lagos-looms';
SQL
start 3202 2000
# Whole responses not kept: every page rendered per request, from its data in memory
# (`storefront::render`; the first request of a page reads it through the router).
STOREFRONT_RESPONSE_CACHE=false start 3204 2000
count=$(psql "$db" -Atc "select count(*) from products p join shops s on s.id = p.shop_id where s.slug = 'lagos-looms'")

home=/s/lagos-looms
product=/s/lagos-looms/p/indigo-adire-scarf
mkdir -p "$work/www/s/lagos-looms/p"
curl -fs "http://127.0.0.1:3201$home" -o "$work/www/home.html"
curl -fs "http://127.0.0.1:3201$product" -o "$work/www/product.html"

cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server {
    listen 127.0.0.1:3203;
    location = $home { default_type text/html; alias $work/www/home.html; }
    location = $product { default_type text/html; alias $work/www/product.html; }
  }
}
NGINX
mkdir -p "$work/tmp"
nginx -c "$work/nginx.conf"
# The baseline must serve the very bytes the app rendered, or the ratios mean nothing.
for f in home product; do
  path=$([ $f = home ] && echo $home || echo $product)
  if ! curl -fs "http://127.0.0.1:3203$path" | cmp -s - "$work/www/$f.html"; then
    echo "nginx does not serve the saved $f page (see $work/nginx-error.log)" >&2; exit 1
  fi
done

run() { # label url
  local out p50 p99 rps
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$2")
  # wrk counts error answers as requests; a run with any is not a measurement of the page.
  if grep -q "Non-2xx" <<<"$out"; then
    echo "$1: error answers during the run:" >&2; echo "$out" >&2; exit 1
  fi
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-28s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99" >&2
  echo "$rps"
}

# Latency at a fixed rate (open loop, `server/benches/openloop.rs`): half of what wrk found.
cargo bench -q -p server --bench openloop --no-run >&2
half() { # label url saturated_rps
  local rate
  rate=$(awk -v r="$3" 'BEGIN { printf "%d", r / 2 }')
  printf '%-28s ' "$1" >&2
  cargo bench -q -p server --bench openloop -- "$2" "$rate" 10 >&2
}

echo "storefront benchmark: $count products, wrk -t$threads -c$connections -d$duration, loopback" >&2
for page in home product; do
  path=$([ $page = home ] && echo $home || echo $product)
  # The router's render (nginx's copy, the cached server's) and the one from memory differ
  # only by Leptos' hydration markers: say by how many bytes.
  for port in 3203 3204; do curl -fs "http://127.0.0.1:$port$path" >/dev/null; done
  printf '  %s page bytes: %s as nginx and the cached server send it, %s rendered from memory\n' "$page" \
    "$(curl -fs "http://127.0.0.1:3203$path" | wc -c)" "$(curl -fs "http://127.0.0.1:3204$path" | wc -c)" >&2
  n=$(run "nginx $page (static file)" "http://127.0.0.1:3203$path")
  q=$(run "app $page, no caches" "http://127.0.0.1:3201$path")
  u=$(run "app $page, uncached" "http://127.0.0.1:3204$path")
  c=$(run "app $page, cached" "http://127.0.0.1:3202$path")
  awk -v q="$q" -v u="$u" -v c="$c" -v n="$n" -v p="$page" 'BEGIN { printf "  %s: app/nginx = %.3f uncached (rendered per request), %.3f cached; %.3f with no caches at all (2 queries per page)\n", p, u/n, c/n, q/n }' >&2
  half "  at half rate, uncached" "http://127.0.0.1:3204$path" "$u"
  half "  at half rate, no caches" "http://127.0.0.1:3201$path" "$q"
  half "  at half rate, cached" "http://127.0.0.1:3202$path" "$c"
  # The generator's and loopback's own share at that rate: nginx sent the same requests.
  half "  nginx at that rate" "http://127.0.0.1:3203$path" "$c"
done

wasm=$(ls target/site/pkg/bizmaat*.wasm | grep -v '\.gz$' | head -1)
raw=$(stat -c %s "$wasm")
br=$(brotli -c -q 11 "$wasm" | wc -c)
echo "release WASM, main module (the dashboard's first download): $raw bytes raw, $br bytes brotli ($wasm)" >&2
chunks=$(ls target/site/pkg/ | grep -E '^(split|chunk)_.*\.wasm$' || true)
if [ -n "$chunks" ]; then
  total=0
  for c in $chunks; do total=$((total + $(brotli -c -q 11 "target/site/pkg/$c" | wc -c))); done
  echo "  plus $(echo "$chunks" | wc -l) page chunks, $total bytes brotli in all, each fetched when its page is first opened" >&2
fi
echo "dashboard page weight (first load, brotli; pages without a session):" >&2
python3 .ci/page_weight.py --dashboard --budget 400 --base "http://127.0.0.1:3202" /login /signup
echo "storefront page weight (first load, brotli):" >&2
cat=$(psql "$db" -Atc "select c.slug from categories c join shops s on s.id = c.shop_id where s.slug = 'lagos-looms' limit 1")
python3 .ci/page_weight.py --base "http://127.0.0.1:3202" \
  "$home" "$home/c/$cat" "$product" "$home/search?q=scarf" "$home/cart"
# Lighthouse, mobile, against the cached server (BENCH_LIGHTHOUSE=off skips it).
if [ "${BENCH_LIGHTHOUSE:-on}" != off ]; then
  lh="$root/node_modules/.bin/lighthouse"
  [ -x "$lh" ] || npm install --no-save --no-audit --no-fund lighthouse@12.2.3 >&2
  echo "lighthouse (mobile, Debian Chromium):" >&2
  python3 .ci/lighthouse.py "$lh" "http://127.0.0.1:3202" "$home" "$home/c/$cat" "$product"
fi
[ "${BENCH_ONLY:-}" = storefront ] && exit 0

fi

# ---------------------------------------------------------------------------------------------
# WhatsApp webhook: its own database and server (the storefront ones are stopped first, so it
# has the machine). The start script runs the server in the background and writes its pid to
# wa.pid; the benchmark calls it again to restart the server after its SIGKILL.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
wa_db="$server_url/bizmaat_bench_wa"
wa_port=${BENCH_WA_PORT:-3204}
psql "$server_url/postgres" -qc "drop database if exists bizmaat_bench_wa with (force)" >/dev/null
cat > "$work/wa-start.sh" <<START
#!/usr/bin/env bash
APP_ENV=development DATABASE_URL='$wa_db' HOST=127.0.0.1 PORT=$wa_port SEED_DEMO=true RUST_LOG=warn \\
  MEDIA_DIR='$work/media-wa' LEPTOS_SITE_ROOT='$root/target/site' LEPTOS_OUTPUT_NAME=bizmaat \\
  LEPTOS_HASH_FILES=true '$bin' >>'$work/server-$wa_port.log' 2>&1 </dev/null &
echo \$! >'$work/wa.pid'
START
chmod +x "$work/wa-start.sh"
"$work/wa-start.sh"
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$wa_port/readyz" >/dev/null && break; sleep 0.5; done
python3 .ci/webhook_bench.py --url "http://127.0.0.1:$wa_port" --db "$wa_db" \
  --pid-file "$work/wa.pid" --restart-cmd "$work/wa-start.sh" \
  || { echo "webhook benchmark failed; server log:" >&2; tail -50 "$work/server-$wa_port.log" >&2; exit 1; }
