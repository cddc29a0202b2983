"""A Python application through a rotation: N processes x M connections (psycopg 3).

Each connection thread runs small transactions continuously. Before each
transaction it checks the credential file (cached for --refresh seconds, a
random phase per process); when the version changed it opens a connection
with the new credential and closes its old one (its work is done: the thread
is between transactions). An authentication failure re-reads the file and
retries once. Prints one JSON line: {"ok": .., "failed": .., "errors": {..},
"versions": [..]} on SIGTERM.

usage: python3 workload.py DIR [--processes 4] [--connections 4] [--refresh 1.0]
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


def connection_loop(source: CredentialFile, refresh: float, stop: threading.Event, stats: dict, lock: threading.Lock):
    cred = source.current(refresh)
    conn = psycopg.connect(**cred.conninfo(), autocommit=True, connect_timeout=5)
    while not stop.is_set():
        try:
            newest = source.current(refresh)
            if newest.version != cred.version:
                fresh = psycopg.connect(**newest.conninfo(), autocommit=True, connect_timeout=5)
                conn.close()
                conn, cred = fresh, newest
            try:
                conn.execute("INSERT INTO py_counter VALUES (1)")
            except psycopg.OperationalError as err:
                if not is_auth_error(err) and not conn.closed:
                    raise
                # session ended or login refused: newest credential, new connection, one retry
                cred = source.refresh()
                conn.close()
                conn = psycopg.connect(**cred.conninfo(), autocommit=True, connect_timeout=5)
                conn.execute("INSERT INTO py_counter VALUES (1)")
            with lock:
                stats["ok"] += 1
                stats["versions"].add(cred.version)
        except Exception as err:  # counted, never printed with a secret (psycopg errors carry none)
            with lock:
                stats["failed"] += 1
                key = type(err).__name__ + ": " + str(err).splitlines()[0][:120]
                stats["errors"][key] = stats["errors"].get(key, 0) + 1
            time.sleep(0.05)
        time.sleep(0.002)
    conn.close()


def process_main(path: str, connections: int, refresh: float, out: mp.Queue):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stats = {"ok": 0, "failed": 0, "errors": {}, "versions": set()}
    lock = threading.Lock()
    source = CredentialFile(path)
    time.sleep(random.random() * refresh)  # each process polls at its own phase
    threads = [
        threading.Thread(target=connection_loop, args=(source, refresh, stop, stats, lock), daemon=True)
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
    a = ap.parse_args()
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=process_main, args=(a.dir, a.connections, a.refresh, out)) for _ in range(a.processes)
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
