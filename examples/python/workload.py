"""A Python application through a rotation: N processes x M connections (psycopg 3).

Each connection thread runs small transactions continuously. Before each
transaction it checks the credential file (cached for --refresh seconds, a
random phase per process); when the version changed it opens a connection
with the new credential and closes its old one (its work is done: the thread
is between transactions). An authentication failure re-reads the file and
retries once. Prints one JSON line: {"ok": .., "failed": .., "errors": {..},
"versions": [..]} on SIGTERM.

usage: python3 workload.py DIR [--processes 4] [--connections 4] [--refresh 1.0]
                            [--sql "INSERT INTO py_counter VALUES (1)"] [--no-auth-retry]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import signal
import sys
import threading
import time

import psycopg

from db_rotator_file import CredentialFile, is_auth_error


def connection_loop(
    source: CredentialFile, opts: argparse.Namespace, stop: threading.Event, stats: dict, lock: threading.Lock
):
    refresh = opts.refresh
    cred = source.current(refresh)
    conn = None
    while conn is None and not stop.is_set():
        try:
            conn = psycopg.connect(**cred.conninfo(), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            time.sleep(0.2)
            cred = source.current(refresh)
    while not stop.is_set():
        try:
            newest = source.current(refresh)
            if newest.version != cred.version:
                fresh = psycopg.connect(**newest.conninfo(), autocommit=True, connect_timeout=5)
                conn.close()
                conn, cred = fresh, newest
            try:
                conn.execute(opts.sql)
            except psycopg.OperationalError as err:
                if opts.no_auth_retry or (not is_auth_error(err) and not conn.closed):
                    raise
                # session ended or login refused: newest credential, new connection, one retry
                cred = source.refresh()
                conn.close()
                conn = psycopg.connect(**cred.conninfo(), autocommit=True, connect_timeout=5)
                conn.execute(opts.sql)
            with lock:
                stats["ok"] += 1
                stats["versions"].add(cred.version)
        except Exception as err:  # counted, never printed with a secret (psycopg errors carry none)
            with lock:
                stats["failed"] += 1
                key = type(err).__name__ + ": " + str(err).splitlines()[0][:120]
                stats["errors"][key] = stats["errors"].get(key, 0) + 1
            time.sleep(0.05)
            if conn.closed:  # a lost session: reconnect with the credential known now (no early re-read)
                try:
                    conn = psycopg.connect(**cred.conninfo(), autocommit=True, connect_timeout=5)
                except Exception:
                    pass
        time.sleep(0.002)
    if conn is not None:
        conn.close()


def process_main(path: str, opts: argparse.Namespace, out: mp.Queue):
    connections, refresh = opts.connections, opts.refresh
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stats = {"ok": 0, "failed": 0, "errors": {}, "versions": set()}
    lock = threading.Lock()
    source = CredentialFile(path)
    random.seed()  # forked processes share the parent's generator state: draw their own phase
    time.sleep(random.random() * refresh)  # each process polls at its own phase
    threads = [
        threading.Thread(target=connection_loop, args=(source, opts, stop, stats, lock), daemon=True)
        for _ in range(connections)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    stats["versions"] = sorted(stats["versions"])
    out.put(stats)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--refresh", type=float, default=1.0)
    ap.add_argument("--sql", default="INSERT INTO py_counter VALUES (1)")
    ap.add_argument("--no-auth-retry", action="store_true", help="no early re-read on a failed login (most apps)")
    a = ap.parse_args()
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=process_main, args=(a.dir, a, out)) for _ in range(a.processes)
    ]
    for p in procs:
        p.start()
    print("started", file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    while not done.wait(0.2):
        pass
    for p in procs:
        p.terminate()  # SIGTERM: each process finishes its current transactions and reports
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    total = {"ok": 0, "failed": 0, "errors": {}, "versions": set()}
    for r in results:
        total["ok"] += r["ok"]
        total["failed"] += r["failed"]
        total["versions"].update(r["versions"])
        for k, v in r["errors"].items():
            total["errors"][k] = total["errors"].get(k, 0) + v
    total["versions"] = sorted(total["versions"])
    print(json.dumps(total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
