#!/usr/bin/env python3
"""The parts of bench/soak.sh written in Python (standard library only):

  soak.py jwt DIR                  a random HS256 key as DIR/soak-jwk.json; prints a valid
                                   token, a badly signed one and an expired one, one a line
  soak.py backend PORT SLOW KEEPALIVE
                                   the backend nginx cannot play: /slow answers after SLOW
                                   seconds, /reset resets the connection (before the answer,
                                   or half-way through its body), /sink reads a request body
                                   and answers with its length; idle connections are closed
                                   after KEEPALIVE seconds
  soak.py clients PORT SECONDS N OUT
                                   N clients that go away half-way for SECONDS: in the request
                                   head, in the request body, while the gateway waits on a
                                   slow backend (also as curl --max-time), half-way through a
                                   4 MB answer; between them, whole requests that must succeed;
                                   their counts as JSON in OUT
  soak.py report WORK              the tables and the verdict from what soak.sh left in WORK;
                                   exits 1 when a target is missed
"""
import asyncio
import base64
import glob
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


# --- JWT material ----------------------------------------------------------------------------
def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(claims: dict, key: bytes) -> str:
    head = {"alg": "HS256", "typ": "JWT", "kid": "soak"}
    signing = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing + "." + b64url(hmac.new(key, signing.encode(), hashlib.sha256).digest())


def cmd_jwt(folder: str) -> None:
    key = os.urandom(32)
    jwk = {"keys": [{"kty": "oct", "kid": "soak", "alg": "HS256", "k": b64url(key)}]}
    with open(os.path.join(folder, "soak-jwk.json"), "w") as f:
        json.dump(jwk, f)
    now = int(time.time())
    print(hs256({"sub": "soak", "iat": now, "exp": now + 86400}, key))
    print(hs256({"sub": "soak", "iat": now, "exp": now + 86400}, os.urandom(32)))
    print(hs256({"sub": "soak", "iat": now - 7200, "exp": now - 3600}, key))


# --- the special backend ---------------------------------------------------------------------
def answer(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def read_body(reader: asyncio.StreamReader, fields: dict) -> int:
    if "content-length" in fields:
        n = int(fields["content-length"])
        await reader.readexactly(n)
        return n
    if "chunked" in fields.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return total
            await reader.readexactly(size + 2)
            total += size
    return 0


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict) -> None:
    try:
        while True:
            # an idle keep-alive connection is closed after state["keepalive"] seconds, as
            # nginx's keepalive_timeout does
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), state["keepalive"])
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
            n = await read_body(reader, fields)
            path = target.split("?", 1)[0]
            if path == "/slow":
                await asyncio.sleep(state["slow"])
                writer.write(answer("200 OK", b'{"slow":true}'))
            elif path == "/reset":
                state["resets"] += 1
                if state["resets"] % 2:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 4096\r\n\r\n{\"half\":")
                    await writer.drain()
                reset(writer)
                return
            elif path == "/sink" and method == "POST":
                writer.write(answer("200 OK", json.dumps({"received": n}).encode()))
            else:
                writer.write(answer("404 Not Found", b'{"error":"not found"}'))
            await writer.drain()
            if fields.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
            ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def backend(port: int, slow: float, keepalive: float) -> None:
    state = {"slow": slow, "keepalive": keepalive, "resets": 0}
    server = await asyncio.start_server(lambda r, w: serve(r, w, state), HOST, port,
                                        reuse_address=True, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the clients that go away ----------------------------------------------------------------
class Outcome(Exception):
    """An unexpected outcome of one client exchange."""


async def connect(port: int, rcvbuf: int = 0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    except OSError as e:
        sock.close()
        raise Outcome(f"connect: {e.strerror or e}")
    return await asyncio.open_connection(sock=sock)


def close(writer: asyncio.StreamWriter, rst: bool) -> None:
    if rst:
        reset(writer)
    else:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> tuple:
    """A whole answer with a Content-Length: (status, body)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        raise Outcome(f"no answer: {type(e).__name__}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    try:
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        raise Outcome(f"cut answer: {type(e).__name__}")
    return status, body


async def head_cut(port, rnd):
    """The connection goes away in the middle of the request head."""
    _, w = await connect(port)
    w.write(b"GET /api/small HTTP/1.1\r\nHost: soak\r\nUser-Agent: soa")
    await w.drain()
    await asyncio.sleep(rnd.uniform(0, 0.05))
    close(w, rnd.random() < 0.5)


async def body_cut(port, rnd):
    """The connection goes away after 4 KB of a 64 KB request body."""
    _, w = await connect(port)
    w.write(b"POST /api/sink HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 65536\r\n\r\n" + b"x" * 4096)
    await w.drain()
    await asyncio.sleep(rnd.uniform(0, 0.1))
    close(w, rnd.random() < 0.5)


async def wait_cut(port, rnd):
    """The connection goes away while the gateway waits on the slow backend."""
    _, w = await connect(port)
    w.write(b"GET /api/slow HTTP/1.1\r\nHost: soak\r\n\r\n")
    await w.drain()
    await asyncio.sleep(rnd.uniform(0.05, 0.5))
    close(w, rnd.random() < 0.5)


async def curl_cut(port, rnd):
    """curl --max-time ends the exchange while the gateway waits on the slow backend."""
    p = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "/dev/null", "--max-time", "0.3", f"http://{HOST}:{port}/api/slow",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    rc = await p.wait()
    if rc != 28:
        raise Outcome(f"curl exit {rc}, not its timeout (28)")


async def read_cut(port, rnd):
    """The connection goes away after the first 32 KB of a 4 MB answer."""
    r, w = await connect(port, rcvbuf=8192)
    w.write(b"GET /api/huge HTTP/1.1\r\nHost: soak\r\n\r\n")
    await w.drain()
    got = b""
    try:
        while len(got) < 32768:
            chunk = await r.read(8192)
            if not chunk:
                break
            got += chunk
    except ConnectionError as e:
        raise Outcome(f"huge: {type(e).__name__}")
    if not got.startswith(b"HTTP/1.1 200 "):
        raise Outcome(f"huge: {got[:30]!r}")
    if len(got) < 32768:
        raise Outcome("huge: cut by the gateway")
    close(w, rnd.random() < 0.5)


async def whole(port, rnd):
    """Two whole requests on one connection (a GET and a 64 KB POST), then a close."""
    r, w = await connect(port)
    w.write(b"GET /api/small HTTP/1.1\r\nHost: soak\r\n\r\n")
    status, body = await read_answer(r)
    if status != 200 or b"tentacle" not in body:
        raise Outcome(f"small: {status}")
    w.write(b"POST /api/sink HTTP/1.1\r\nHost: soak\r\nContent-Length: 65536\r\n"
            b"Connection: close\r\n\r\n" + b"y" * 65536)
    status, body = await read_answer(r)
    if status != 200 or b'"received": 65536' not in body:
        raise Outcome(f"sink: {status} {body[:40]!r}")
    close(w, False)


MODES = {"head-cut": head_cut, "body-cut": body_cut, "wait-cut": wait_cut,
         "curl-cut": curl_cut, "read-cut": read_cut, "whole": whole}
WEIGHTS = {"head-cut": 3, "body-cut": 3, "wait-cut": 3, "curl-cut": 1, "read-cut": 3, "whole": 3}


async def clients(port: int, seconds: float, n: int, out: str) -> None:
    stats = {m: {"runs": 0, "unexpected": 0, "why": {}} for m in MODES}
    deadline = time.monotonic() + seconds
    modes = [m for m, k in WEIGHTS.items() for _ in range(k)]

    async def worker(i: int) -> None:
        rnd = random.Random(i)
        while time.monotonic() < deadline:
            mode = rnd.choice(modes)
            s = stats[mode]
            s["runs"] += 1
            try:
                await asyncio.wait_for(MODES[mode](port, rnd), 10)
            except Exception as e:  # every failure of an exchange is counted, none stops the run
                why = str(e) if isinstance(e, Outcome) else f"{type(e).__name__}: {e}"
                s["unexpected"] += 1
                s["why"][why] = s["why"].get(why, 0) + 1
            await asyncio.sleep(rnd.uniform(0.01, 0.04))

    await asyncio.gather(*(worker(i) for i in range(n)))
    with open(out, "w") as f:
        json.dump(stats, f)


# --- the report ------------------------------------------------------------------------------
def cmd_report(work: str) -> int:
    env = json.load(open(os.path.join(work, "settings.json")))
    kinds = {k["kind"]: k for k in env["kinds"]}
    rows, unexpected, expected_total, notes = [], 0, 0, []
    for path in sorted(glob.glob(os.path.join(work, "wrk-*.json"))):
        r = json.load(open(path))
        spec = kinds[r["kind"]]
        ok = {int(s) for s in spec["expect"].split(",")}
        statuses = {int(k): v for k, v in r["statuses"].items()}
        wrong = sum(v for s, v in statuses.items() if s not in ok)
        sock = r["connect"] + r["read"] + r["write"] + r["timeout"]
        exp = sum(v for s, v in statuses.items() if s in ok and s >= 400)
        bad = wrong + sock + r["bad_body"]
        unexpected += bad
        expected_total += exp
        if wrong:
            notes.append(f"{r['kind']}: statuses {statuses} (expected {spec['expect']})")
        if sock:
            notes.append(f"{r['kind']}: socket errors connect {r['connect']}, read {r['read']}, "
                         f"write {r['write']}, timeout {r['timeout']}")
        if r["bad_body"]:
            notes.append(f"{r['kind']}: {r['bad_body']} answers of 200 without {spec['check']!r}")
        st = " ".join(f"{s}:{v}" for s, v in sorted(statuses.items()))
        rows.append((r["kind"], r["requests"], spec["expect"], exp, bad,
                     f"{r['p50_ms']:.1f}/{r['p99_ms']:.1f}", st))
    missing = sorted(set(kinds) - {row[0] for row in rows})
    for k in missing:
        notes.append(f"{k}: no summary from its load generator")
        unexpected += 1
    print(f"\nrequests by kind ({env['load_seconds']} s of load, the first {env['warmup']} s "
          "warm-up):")
    print(f"  {'kind':<14}{'requests':>10}  {'expected':<9}{'exp. err':>9}{'unexpected':>11}"
          f"  {'p50/p99 ms':<15}statuses")
    for kind, n, want, exp, bad, lat, st in rows:
        print(f"  {kind:<14}{n:>10}  {want:<9}{exp:>9}{bad:>11}  {lat:<15}{st}")
    cpath = os.path.join(work, "clients.json")
    runs = 0
    if os.path.exists(cpath):
        c = json.load(open(cpath))
        print("client exchanges cut short on purpose (python asyncio clients, curl):")
        for mode, s in c.items():
            unexpected += s["unexpected"]
            runs += s["runs"]
            print(f"  {mode:<14}{s['runs']:>10}  unexpected {s['unexpected']}")
            for why, v in sorted(s["why"].items(), key=lambda x: -x[1])[:5]:
                notes.append(f"{mode}: {v} x {why}")
    else:
        notes.append("clients: no summary")
        unexpected += 1
    total = sum(row[1] for row in rows) + runs

    samples = [line.rstrip("\n").split("\t") for line in open(os.path.join(work, "samples.tsv"))]
    print("\ngateway process (/proc/PID):")
    print(f"  {'when':<22}{'t s':>6}{'RSS KiB':>10}{'fds':>6}{'sockets':>9}{'threads':>9}")
    by = {}
    for label, t, rss, fds, socks, threads in samples:
        by[label] = (int(rss), int(fds))
        print(f"  {label:<22}{t:>6}{rss:>10}{fds:>6}{socks:>9}{threads:>9}")
    sspath = os.path.join(work, "sockets-after-idle.txt")
    if os.path.exists(sspath) and os.path.getsize(sspath):
        print("  its sockets after the idle wait (count, state, peer):")
        for line in open(sspath):
            print("    " + line.strip())

    logpath = os.path.join(work, "logs", "tentacle.log")
    if os.path.exists(logpath):
        lines, kinds = 0, {}
        for line in open(logpath, errors="replace"):
            lines += 1
            # without the date and time of the line
            text = line.rstrip("\n").split(" ", 2)[-1]
            kinds[text] = kinds.get(text, 0) + 1
        print(f"\ngateway log: {lines} lines; the most frequent:")
        for text, v in sorted(kinds.items(), key=lambda x: -x[1])[:12]:
            print(f"  {v:>8}  {text[:150]}")

    alive = env.get("alive_after", False)
    panics = env.get("panics", 0)
    base = by.get("baseline (idle)", (0, 0))[1]
    warm = by.get("warm start", (0, 0))[0]
    end = by.get("end of load", (0, 0))[0]
    after = by.get("after idle", (0, 10**9))[1]
    drift = (end - warm) / warm * 100 if warm else float("inf")
    checks = [
        (unexpected == 0, f"unexpected errors {unexpected} (target 0)"),
        (drift < 5.0, f"RSS {warm} -> {end} KiB, {drift:+.2f} % (target < 5 %)"),
        (after <= base, f"fds {base} at idle start, {after} after the idle wait (target <= {base})"),
        (alive, "gateway alive and answering after the soak"),
        (panics == 0, f"panics in the gateway's log {panics} (target 0)"),
    ]
    if notes:
        print("\nunexpected:")
        for n in notes:
            print("  " + n)
    ok = all(c for c, _ in checks)
    print(f"\n{total} requests and exchanges, {expected_total} expected error answers")
    print("verdict: " + ("PASS" if ok else "FAIL") + ": " +
          "; ".join(("ok " if c else "MISSED ") + text for c, text in checks))
    return 0 if ok else 1


def main() -> int:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "jwt":
        cmd_jwt(args[0])
    elif cmd == "backend":
        try:
            asyncio.run(backend(int(args[0]), float(args[1]), float(args[2])))
        except KeyboardInterrupt:
            pass
    elif cmd == "clients":
        asyncio.run(clients(int(args[0]), float(args[1]), int(args[2]), args[3]))
    elif cmd == "report":
        return cmd_report(args[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
