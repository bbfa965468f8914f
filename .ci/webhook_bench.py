#!/usr/bin/env python3
"""WhatsApp webhook benchmark (part of `make bench`; Python standard library only).

Plays Meta against a running server: signed batches of inbound messages are POSTed to
/webhooks/whatsapp at a fixed rate (open loop: request i is due at t0 + i/rate whatever happened
to earlier ones, and its ack latency is measured from that due time, so a stalled server cannot
hide its stall by slowing the sender down). Like Meta, the sender redelivers the same bytes after
a short backoff on a connection error, a timeout or any answer other than 200, until it gets 200.

Modes, run in sequence against the same server and database (each has its own message ids and
new customers, and waits for the inbox to drain before the next one):
  steady  every request a new batch;
  dup10   10 % of the requests are exact redeliveries (same bytes, same signature) of an
          earlier batch, as Meta does when an ack is slow or lost;
  kill    halfway through, the server is killed with SIGKILL (pid read from --pid-file) and
          started again with --restart-cmd; the sender's retries carry the load over.
After each mode: every message id sent must be stored exactly once in wa_messages (rows,
distinct ids, and the set of ids compared), or the script exits non-zero.

Receipt -> open inbox: a merchant session keeps GET /dashboard/inbox/events (server-sent events)
open for the whole run. Every --sample-every'th request comes from a brand-new customer, so the
first `message` event of that customer's conversation marks when the batch reached the inbox;
conversations are matched to customers by SQL after the run. Its latency is counted from when the
sender wrote the request (the first attempt).

Database access goes through `psql` (as in bench.sh), so nothing beyond the stdlib is needed.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

PATH = "/webhooks/whatsapp"
# Deliveries not yet processed (the count uses the partial index on unprocessed events).
BACKLOG_SQL = "select count(*) from wa_webhook_events where processed_at is null"


def pct(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))]


def ms(v):
    return "n/a" if v is None else f"{v * 1000:.1f} ms"


# ----------------------------------------------------------------------------------- database


def psql(db, sql):
    out = subprocess.run(
        ["psql", db, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    )
    return [line.split("\t") for line in out.stdout.splitlines() if line]


async def apsql(db, sql):
    proc = await asyncio.create_subprocess_exec(
        "psql", db, "-XAtq", "-F", "\t", "-c", sql,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return None
    return [line.split("\t") for line in out.decode().splitlines() if line]


# ------------------------------------------------------------------------------ raw HTTP/1.1


class HttpError(Exception):
    pass


async def read_response(reader, head_only=False):
    """Status, lower-cased header list, and (unless head_only) the body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
    if head_only:
        return status, headers, b""
    h = dict(headers)
    if "chunked" in h.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, headers, bytes(body)
    if "content-length" in h:
        return status, headers, await reader.readexactly(int(h["content-length"]))
    if status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    return status, headers, await reader.read()


class Conn:
    """One keep-alive connection; reopened by the caller after any failure."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw):
        if self.writer is None:
            await self.open()
        self.writer.write(raw)
        await self.writer.drain()
        status, headers, body = await read_response(self.reader)
        if dict(headers).get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


def request_bytes(method, host_port, path, headers, body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_port}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def simple(host, port, method, path, headers=(), body=b"", timeout=10):
    c = Conn(host, port)
    try:
        raw = request_bytes(method, f"{host}:{port}", path, list(headers) + [("Connection", "close")], body)
        return await asyncio.wait_for(c.request(raw), timeout)
    finally:
        c.close()


async def wait_ready(host, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _, _ = await simple(host, port, "GET", "/readyz", timeout=2)
            if status == 200:
                return True
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError):
            pass
        await asyncio.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------- the inbox


async def login(args):
    form = urllib.parse.urlencode(
        {"email": args.email, "password": args.password, "next": "/dashboard/inbox"}
    ).encode()
    status, headers, body = await simple(
        args.host, args.port, "POST", "/api/login",
        [("Origin", f"http://{args.host}:{args.port}"),
         ("Content-Type", "application/x-www-form-urlencoded")],
        form,
    )
    cookies = [v.split(";", 1)[0] for k, v in headers if k == "set-cookie"]
    cookies = [c for c in cookies if c.split("=", 1)[1:] not in ([""], [])]
    if not cookies:
        raise SystemExit(f"login as {args.email} failed: HTTP {status} {body[:200]!r}")
    return "; ".join(cookies)


class Inbox:
    """Keeps the SSE stream open (reconnecting, e.g. across a kill) and timestamps events."""

    def __init__(self, args):
        self.args = args
        self.cookie = None
        self.first_seen = {}  # conversation id -> monotonic time of its first `message` event
        self.events = 0
        self.resyncs = 0
        self.reconnects = 0
        self.connected = asyncio.Event()
        self.task = None

    async def start(self):
        self.cookie = await login(self.args)
        self.task = asyncio.create_task(self.run())
        await asyncio.wait_for(self.connected.wait(), 10)

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def run(self):
        a = self.args
        first = True
        while True:
            c = Conn(a.host, a.port)
            try:
                raw = request_bytes("GET", f"{a.host}:{a.port}", "/dashboard/inbox/events",
                                    [("Cookie", self.cookie), ("Accept", "text/event-stream")])
                await c.open()
                c.writer.write(raw)
                await c.writer.drain()
                status, headers, _ = await read_response(c.reader, head_only=True)
                if status != 200:
                    # A session the restarted server does not know (or a login page): log in anew.
                    c.close()
                    await asyncio.sleep(0.2)
                    self.cookie = await login(a)
                    continue
                if not first:
                    self.reconnects += 1
                first = False
                self.connected.set()
                chunked = "chunked" in dict(headers).get("transfer-encoding", "")
                await self.consume(c.reader, chunked)
                c.close()
                continue  # the server ends a stream after 5 minutes: reconnect at once
            except asyncio.CancelledError:
                c.close()
                raise
            except (OSError, asyncio.IncompleteReadError, HttpError, ValueError, SystemExit):
                pass
            c.close()
            await asyncio.sleep(0.1)

    async def consume(self, reader, chunked):
        buf = b""
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    return
                data = await reader.readexactly(size)
                await reader.readexactly(2)
            else:
                data = await reader.read(65536)
                if not data:
                    return
            now = time.monotonic()
            buf += data
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    try:
                        d = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    self.events += 1
                    if d.get("kind") == "resync":
                        self.resyncs += 1
                    elif d.get("kind") == "message" and d.get("conversation_id"):
                        self.first_seen.setdefault(d["conversation_id"], now)


# ------------------------------------------------------------------------------------ sender


class Req:
    __slots__ = ("i", "due", "raw", "wamids", "sample", "dup", "first_write", "ack", "attempts", "failed")

    def __init__(self, i, due, raw, wamids, sample, dup):
        self.i, self.due, self.raw, self.wamids, self.sample, self.dup = i, due, raw, wamids, sample, dup
        self.first_write = self.ack = None
        self.attempts = 0
        self.failed = False


class Run:
    def __init__(self, args, mode, account, tag):
        self.args, self.mode, self.tag = args, mode, tag
        self.phone_number_id, self.waba_id = account
        self.secret = args.secret.encode()
        self.rng = random.Random(f"{tag}")
        self.reqs = []
        self.sample_phone = {}  # customer phone (+digits) -> Req
        self.status_counts = {}
        self.conn_errors = 0
        self.kill_info = None
        self.max_backlog = 0
        self.n = int(args.rate * args.seconds)
        self.pool = [f"23481{k:08d}" for k in range(args.customers)]
        # New customers for the inbox sample: unique to this run (tag has 4 random digits).
        self.sample_prefix = f"2349{tag[-5:]}"

    def batch(self, i):
        """A fresh signed batch of --batch messages; every sample_every'th from a new customer."""
        a = self.args
        now = str(int(time.time()))
        sample = a.sample_every > 0 and i % a.sample_every == 0
        if sample:
            froms = [f"{self.sample_prefix}{i:06d}"] * a.batch
        else:
            froms = self.rng.sample(self.pool, a.batch)
        wamids = [f"wamid.BENCH{self.tag}{i:07d}{j}" for j in range(a.batch)]
        contacts, seen = [], set()
        for f in froms:
            if f not in seen:
                seen.add(f)
                contacts.append({"profile": {"name": f"Bench {f[-6:]}"}, "wa_id": f})
        messages = [
            {"from": f, "id": w, "timestamp": now, "type": "text",
             "text": {"body": f"Hello, is item {i}-{j} still available?"}}
            for j, (f, w) in enumerate(zip(froms, wamids))
        ]
        doc = {"object": "whatsapp_business_account", "entry": [{"id": self.waba_id, "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000", "phone_number_id": self.phone_number_id},
                "contacts": contacts, "messages": messages}}]}]}
        body = json.dumps(doc, separators=(",", ":")).encode()
        sig = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        raw = request_bytes("POST", f"{a.host}:{a.port}", PATH, [
            ("User-Agent", "facebookexternalua"),
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", sig),
        ], body)
        return raw, wamids, ("+" + froms[0]) if sample else None

    async def deliver(self, conn, r):
        backoff = 0.05
        while True:
            r.attempts += 1
            if r.first_write is None:
                r.first_write = time.monotonic()
            try:
                status, _, _ = await asyncio.wait_for(conn.request(r.raw), self.args.timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError):
                conn.close()
                self.conn_errors += 1
                status = None
            if status is not None:
                self.status_counts[status] = self.status_counts.get(status, 0) + 1
            if status == 200:
                r.ack = time.monotonic()
                return
            if status is not None:
                conn.close()  # a fresh connection for the redelivery, as Meta's would be
            if time.monotonic() - r.due > self.args.give_up:
                r.failed = True
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 1.0)

    async def worker(self, queue):
        conn = Conn(self.args.host, self.args.port)
        try:
            while True:
                r = await queue.get()
                try:
                    await self.deliver(conn, r)
                finally:
                    queue.task_done()
        finally:
            conn.close()

    async def killer(self, t0):
        a = self.args
        await asyncio.sleep(max(0.0, t0 + a.seconds / 2 - time.monotonic()))
        with open(a.pid_file) as f:
            pid = int(f.read().strip())
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        in_flight = sum(1 for r in self.reqs if r.first_write is not None and r.ack is None)
        proc = await asyncio.create_subprocess_shell(a.restart_cmd)
        await proc.wait()
        ready = await wait_ready(a.host, a.port, 120)
        if not ready:
            raise SystemExit("the server did not come back after SIGKILL")
        self.kill_info = {"at_s": round(killed - t0, 1), "pid": pid, "in_flight": in_flight,
                          "down_s": round(time.monotonic() - killed, 2)}

    async def monitor(self, stop):
        sql = BACKLOG_SQL
        while not stop.is_set():
            rows = await apsql(self.args.db, sql)
            if rows:
                self.max_backlog = max(self.max_backlog, int(rows[0][0]))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    async def load(self):
        a = self.args
        queue = asyncio.Queue()
        workers = [asyncio.create_task(self.worker(queue)) for _ in range(a.connections)]
        stop = asyncio.Event()
        mon = asyncio.create_task(self.monitor(stop))
        t0 = time.monotonic() + 0.2
        kill = asyncio.create_task(self.killer(t0)) if self.mode == "kill" else None
        originals = []
        for i in range(self.n):
            due = t0 + i / a.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.mode == "dup10" and i % 10 == 9 and originals:
                # An exact redelivery of a batch sent up to ~3 s earlier.
                src = self.rng.choice(originals[-1000:])
                r = Req(i, due, src.raw, src.wamids, None, True)
            else:
                raw, wamids, sample = self.batch(i)
                r = Req(i, due, raw, wamids, sample, False)
                originals.append(r)
                if sample:
                    self.sample_phone[sample] = r
            self.reqs.append(r)
            queue.put_nowait(r)
        self.sent_s = time.monotonic() - t0
        await queue.join()
        self.acked_at = time.monotonic()
        if kill is not None:
            await kill
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        stop.set()
        await mon
        self.t0 = t0

    async def drain(self):
        """Waits until every delivery is processed (a killed run's batch rolls back and is taken again)."""
        deadline = time.monotonic() + self.args.drain_timeout
        dead = "select count(*) from wa_webhook_events where error is not null"
        while True:
            rows = await apsql(self.args.db, BACKLOG_SQL)
            if rows and int(rows[0][0]) == 0:
                self.drained_at = time.monotonic()
                self.dead_jobs = int(psql(self.args.db, dead)[0][0])
                return True
            if time.monotonic() > deadline:
                self.drained_at = None
                self.dead_jobs = int(psql(self.args.db, dead)[0][0])
                return False
            # Polled gently: the count itself costs the database a little.
            await asyncio.sleep(0.5)


async def run_mode(args, mode, account, inbox):
    tag = f"{mode[:1].upper()}{random.randint(10000, 99999)}"
    run = Run(args, mode, account, tag)
    # Every mode starts from the same state, whether or not autovacuum runs on this machine
    # (the mode before leaves tens of thousands of dead row versions).
    psql(args.db, "vacuum analyze")
    ev0 = int(psql(args.db, "select coalesce(max(id), 0) from wa_webhook_events")[0][0])
    wall_minus_mono = time.time() - time.monotonic()
    print(f"\n== {mode}: {run.n} requests at {args.rate:g}/s for {args.seconds:g} s, "
          f"{args.batch} messages each, {args.connections} connections", file=sys.stderr)
    await run.load()
    drained = await run.drain()
    await asyncio.sleep(1.0)  # let the last live events arrive

    # What was sent, what was stored.
    sent = set()
    for r in run.reqs:
        sent.update(r.wamids)
    like = f"wamid.BENCH{tag}%"
    rows = psql(args.db, f"select wamid, extract(epoch from created_at) from wa_messages "
                         f"where direction = 'in' and wamid like '{like}'")
    stored_rows = len(rows)
    stored = {w for w, _ in rows}
    missing = len(sent - stored)
    extra = len(stored - sent)
    dup_rows = stored_rows - len(stored)
    ev = psql(args.db, f"select count(*), count(*) filter (where error is not null), "
                       f"count(*) filter (where processed_at is null) from wa_webhook_events where id > {ev0}")[0]

    # Acks: latency from the due time (coordinated-omission free).
    acked = [r for r in run.reqs if r.ack is not None]
    ack = [r.ack - r.due for r in acked]
    failed = sum(1 for r in run.reqs if r.failed)
    retried = sum(1 for r in run.reqs if r.attempts > 1)

    # Receipt -> stored row for every message, from the rows' created_at.
    write_wall = {}
    for r in run.reqs:
        if not r.dup and r.first_write is not None:
            for w in r.wamids:
                write_wall[w] = r.first_write + wall_minus_mono
    to_row = [float(t) - write_wall[w] for w, t in rows if w in write_wall]
    created = sorted(float(t) for _, t in rows)
    span = (created[-1] - created[0]) if len(created) > 1 else 0
    stored_rate = len(created) / span if span > 0 else None

    # Receipt -> open inbox, for the sampled new customers.
    phones = list(run.sample_phone)
    conv = {}
    if phones:
        plist = ",".join(f"'{p}'" for p in phones)
        for cid, phone in psql(args.db, f"select v.id, c.phone from conversations v join customers c "
                                        f"on c.id = v.customer_id where c.phone in ({plist})"):
            conv[phone] = cid
    inbox_lat, inbox_missed = [], 0
    for phone, r in run.sample_phone.items():
        seen = inbox.first_seen.get(conv.get(phone))
        if seen is None or r.first_write is None:
            inbox_missed += 1
        else:
            inbox_lat.append(seen - r.first_write)

    res = {
        "mode": mode, "requests": len(run.reqs), "duplicates_sent": sum(1 for r in run.reqs if r.dup),
        "send_s": round(run.sent_s, 2), "acked": len(acked), "failed": failed, "retried": retried,
        "conn_errors": run.conn_errors, "statuses": {str(k): v for k, v in sorted(run.status_counts.items())},
        "ack_p50_ms": ack and round(pct(ack, 50) * 1000, 1), "ack_p99_ms": ack and round(pct(ack, 99) * 1000, 1),
        "ack_max_ms": ack and round(max(ack) * 1000, 1),
        "messages_sent": len(sent), "rows_stored": stored_rows, "distinct_stored": len(stored),
        "missing": missing, "duplicates_stored": dup_rows, "unexpected": extra,
        "webhook_events": int(ev[0]), "event_errors": int(ev[1]), "events_unprocessed": int(ev[2]),
        "written_off": run.dead_jobs, "drained": drained, "max_backlog": run.max_backlog,
        "drain_after_last_ack_s": round(run.drained_at - run.acked_at, 2) if run.drained_at else None,
        "stored_msgs_per_s": stored_rate and round(stored_rate, 1),
        "to_row_p50_ms": to_row and round(pct(to_row, 50) * 1000, 1),
        "to_row_p95_ms": to_row and round(pct(to_row, 95) * 1000, 1),
        "to_row_max_ms": to_row and round(max(to_row) * 1000, 1),
        "inbox_samples": len(phones), "inbox_missed": inbox_missed,
        "inbox_p50_ms": inbox_lat and round(pct(inbox_lat, 50) * 1000, 1),
        "inbox_p95_ms": inbox_lat and round(pct(inbox_lat, 95) * 1000, 1),
        "inbox_max_ms": inbox_lat and round(max(inbox_lat) * 1000, 1),
        "sse_resyncs": inbox.resyncs, "sse_reconnects": inbox.reconnects,
        "kill": run.kill_info,
        "ok": drained and missing == 0 and dup_rows == 0 and extra == 0 and failed == 0,
    }
    p = lambda s: print("  " + s, file=sys.stderr)  # noqa: E731
    p(f"requests {res['requests']} ({res['duplicates_sent']} exact redeliveries) scheduled over "
      f"{res['send_s']} s; acked {res['acked']}, gave up {failed}, retried {retried}, "
      f"connection errors {run.conn_errors}, answers {res['statuses']}")
    p(f"ack latency from due time: p50 {ms(pct(ack, 50))}  p99 {ms(pct(ack, 99))}  max {ms(max(ack) if ack else None)}")
    if run.kill_info:
        k = run.kill_info
        p(f"SIGKILL at {k['at_s']} s (pid {k['pid']}, {k['in_flight']} requests in flight); "
          f"back and ready after {k['down_s']} s")
    p(f"messages sent (distinct wamids) {len(sent)}; rows stored {stored_rows}; distinct stored "
      f"{len(stored)}; missing {missing}; duplicates stored {dup_rows}; unknown {extra}")
    p(f"webhook events committed {res['webhook_events']} (processing errors {res['event_errors']}, "
      f"unprocessed {res['events_unprocessed']}); written off {run.dead_jobs}; inbox drained: {drained}")
    p(f"stored {res['stored_msgs_per_s']} msg/s; unprocessed backlog max {run.max_backlog}; drained "
      f"{res['drain_after_last_ack_s']} s after the last ack")
    p(f"receipt -> stored row, all messages: p50 {ms(pct(to_row, 50))}  "
      f"p95 {ms(pct(to_row, 95))}  max {ms(max(to_row) if to_row else None)}")
    p(f"receipt -> open inbox (SSE), {len(phones)} new customers: p50 {ms(pct(inbox_lat, 50))}  "
      f"p95 {ms(pct(inbox_lat, 95))}  max {ms(max(inbox_lat) if inbox_lat else None)}; "
      f"no event {inbox_missed}; resyncs {inbox.resyncs}; reconnects {inbox.reconnects}")
    p("stored exactly once: " + ("yes" if res["ok"] else "NO"))
    return res


async def main_async(args):
    if not await wait_ready(args.host, args.port, 60):
        raise SystemExit(f"no server answers on {args.url}/readyz")
    # The demo shop's simulated number appears shortly after start-up.
    deadline = time.monotonic() + 60
    while True:
        rows = psql(args.db, "select phone_number_id, waba_id from wa_accounts "
                             "where phone_number_id is not null order by created_at limit 1")
        if rows:
            account = (rows[0][0], rows[0][1])
            break
        if time.monotonic() > deadline:
            raise SystemExit("no WhatsApp account connected (is SEED_DEMO=true and the simulator on?)")
        await asyncio.sleep(0.5)
    results = []
    for mode in args.modes:
        inbox = Inbox(args)
        await inbox.start()
        try:
            results.append(await run_mode(args, mode, account, inbox))
        finally:
            await inbox.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("BENCH_WA_URL", "http://127.0.0.1:3204"))
    ap.add_argument("--db", default=os.environ.get("DATABASE_URL"), help="the server's database (psql URL)")
    ap.add_argument("--modes", default="steady,dup10,kill")
    ap.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_WA_RATE", 320)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_WA_SECONDS", 60)))
    ap.add_argument("--batch", type=int, default=3, help="messages per request")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--customers", type=int, default=2000, help="returning customers the batches come from")
    ap.add_argument("--sample-every", type=int, default=10, help="every Nth request from a new customer")
    ap.add_argument("--secret", default=os.environ.get("META_APP_SECRET", "simulator-app-secret"))
    ap.add_argument("--email", default="demo@bizmaat.local")
    ap.add_argument("--password", default="demo-shop-2026")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before an attempt counts as failed")
    ap.add_argument("--give-up", type=float, default=300.0, help="seconds after which a request is given up")
    ap.add_argument("--drain-timeout", type=float, default=1200.0,
                    help="seconds to wait for the job queue to drain after the last ack")
    ap.add_argument("--pid-file", help="kill mode: file holding the server's pid")
    ap.add_argument("--restart-cmd", help="kill mode: shell command that starts the server again "
                                          "(in the background, writing the new pid to --pid-file)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    args.host, args.port = u.hostname, u.port or 80
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in args.modes:
        if m not in ("steady", "dup10", "kill"):
            ap.error(f"unknown mode {m}")
    if "kill" in args.modes and not (args.pid_file and args.restart_cmd):
        ap.error("kill mode needs --pid-file and --restart-cmd")
    if not args.db:
        ap.error("--db (or DATABASE_URL) is required")

    results = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"\nWhatsApp webhook benchmark: {args.rate:g} req/s x {args.seconds:g} s, "
          f"{args.batch} messages per signed batch", file=sys.stderr)
    print(f"{'mode':<8} {'ack p50':>9} {'ack p99':>9} {'ack max':>9} {'sent':>7} {'stored':>7} "
          f"{'dups':>5} {'miss':>5} {'msg/s':>7} {'inbox p95':>10}  ok", file=sys.stderr)
    for r in results:
        print(f"{r['mode']:<8} {r['ack_p50_ms'] or 0:>7.1f}ms {r['ack_p99_ms'] or 0:>7.1f}ms "
              f"{r['ack_max_ms'] or 0:>7.0f}ms {r['messages_sent']:>7} {r['rows_stored']:>7} "
              f"{r['duplicates_stored']:>5} {r['missing']:>5} {r['stored_msgs_per_s'] or 0:>7.0f} "
              f"{r['inbox_p95_ms'] or 0:>8.0f}ms  {'yes' if r['ok'] else 'NO'}", file=sys.stderr)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
