#!/usr/bin/python3
"""Seeding throughput on real servers (run by bench/run):

  bench/seeding.py REPLIKIT_BINARY OUT_JSON [RUNS] [MEGABYTES]

A source with a generated dataset of at least MEGABYTES (default 200) of
dump text, and a new replica, on MariaDB 11.8 and MySQL 9.7:
  dump:   `replikit prepare` with REPLIKIT_SEED=dump, from start to exit
          (seeded and replicating), against
  pipe:   the bare `dump | client` pipe with the same dump options on the
          same servers, loading with the binary log off as replikit does (what
          replikit adds: its pass-through, the progress count and the
          replication set-up).
On MySQL, also clone against dump with replikit as PID 1 supervising the
replica's server, from the server's first answer to both replication
threads running (a fresh replica each run).
Runs alternate between the methods, so drift hits both alike.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replication import ROOT_PASSWORD, REPL_PASSWORD, Server, prepare_primary, replicating  # noqa: E402

INSIDE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def replica_env(primary, method):
    return {"PATH": INSIDE_PATH, "MYSQL_ROOT_PASSWORD": ROOT_PASSWORD,
            "MYSQL_MASTER_HOST": "127.0.0.1", "MYSQL_MASTER_PORT": str(primary.port),
            "MYSQL_REPL_USER": "repl", "MYSQL_REPL_PASSWORD": REPL_PASSWORD,
            "REPLIKIT_REPL_HOST": "127.0.0.1", "REPLIKIT_SEED": method,
            "REPLIKIT_PREPARE_TIMEOUT": "3600s"}


def install(binary, server):
    """replikit inside the server's root filesystem (its dump tools are there)."""
    inside = server.dir + "/replikit"
    shutil.copy(binary, server.root + inside)
    return inside


def generate(primary, megabytes):
    """Rows of 1 KiB of hex text, doubled until the dump is big enough."""
    primary.sql("CREATE DATABASE bench")
    primary.sql("CREATE TABLE bench.t (id INT PRIMARY KEY, k INT NOT NULL, pad TEXT NOT NULL, KEY (k))")
    primary.sql("INSERT INTO bench.t VALUES (1, 1, REPEAT(SHA2('1', 256), 16))")
    rows = 1
    while rows * 1100 < megabytes * 1024 * 1024:
        primary.sql(f"INSERT INTO bench.t SELECT id + {rows}, (id * 7919) % 100000, "
                    f"REPEAT(SHA2(id + {rows}, 256), 16) FROM bench.t")
        rows *= 2
    return rows


def reset(replica):
    for q in ("STOP REPLICA", "RESET REPLICA ALL", "SET GLOBAL read_only = OFF", "DROP DATABASE IF EXISTS bench",
              "DROP DATABASE IF EXISTS replikit_seed_incomplete"):
        replica.sql(q)
    if replica.flavor == "mysql":
        replica.sql("RESET BINARY LOGS AND GTIDS")


def run_in_root(server, script, env):
    """`script` in the server's root filesystem with /proc mounted, as in a
    container (replikit hands the dump tools their option files through
    /proc/self/fd)."""
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", 'mount -t proc proc "$0/proc" && exec chroot "$0" sh -c "$1"',
         server.root, script], env=env, capture_output=True)


def time_replikit(binary, primary, replica):
    inside = install(binary, replica)
    env = replica_env(primary, "dump")
    env["REPLIKIT_SOCKET"] = replica.dir + "/sock"
    t0 = time.monotonic()
    out = run_in_root(replica, f"exec {inside} prepare", env)
    elapsed = time.monotonic() - t0
    log = out.stderr.decode()
    if out.returncode != 0 or "seeding: done" not in log:
        raise RuntimeError(f"replikit prepare failed: {log}")
    copied = int(re.search(r"copied (\d+) bytes", log).group(1))
    return elapsed, copied


def time_pipe(primary, replica):
    mysql = replica.flavor == "mysql"
    dump, client = ("mysqldump", "mysql") if mysql else ("mariadb-dump", "mariadb")
    position = "--source-data=2 --set-gtid-purged=ON" if mysql else "--master-data=2 --gtid"
    with open(replica.host_dir + "/source.cnf", "w") as f:
        f.write(f"[client]\nhost=127.0.0.1\nport={primary.port}\nuser=root\npassword={ROOT_PASSWORD}\n"
                + ("get-server-public-key\n" if mysql else "skip-ssl\n"))
    with open(replica.host_dir + "/local.cnf", "w") as f:
        f.write(f"[client]\nsocket={replica.dir}/sock\nuser=root\npassword={ROOT_PASSWORD}\n"
                "max-allowed-packet=1G\ninit-command=\"SET SESSION sql_log_bin = 0\"\n")
    script = (f"{dump} --defaults-extra-file={replica.dir}/source.cnf --single-transaction --routines "
              f"--events --triggers --hex-blob --no-tablespaces {position} --databases bench | "
              f"{client} --defaults-extra-file={replica.dir}/local.cnf")
    t0 = time.monotonic()
    out = run_in_root(replica, script, {"PATH": INSIDE_PATH})
    elapsed = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"the bare pipe failed: {out.stderr.decode()}")
    return elapsed


def time_supervised(binary, primary, method):
    """A fresh replica whose server runs under replikit as PID 1: from its
    first answer to replicating."""
    replica = Server("mysql", f"seed-{method}-{time.monotonic_ns()}")
    try:
        replica.stop()
        inside = install(binary, replica)
        env = replica_env(primary, method)
        env.update(REPLIKIT_SOCKET=replica.dir + "/sock", REPLIKIT_SERVER_ID_VIA="off")
        gtid = " --gtid-mode=ON --enforce-gtid-consistency=ON --mysqlx=OFF"
        replica.proc = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
             'mount --bind /dev "$R/dev" && mount -t proc proc "$R/proc" && exec chroot "$R" sh -c "$S"'],
            # Only our variables: bench/run's own (REPLIKIT_ROLE for the
            # start-up runs) must not reach the replica's replikit.
            env=dict(env, R=replica.root,
                     S=f"exec {inside} -- mysqld --no-defaults --user=root --datadir={replica.dir}/data "
                       f"--port={replica.port} --bind-address=127.0.0.1 --socket={replica.dir}/sock "
                       f"--pid-file={replica.dir}/pid --log-error={replica.dir}/error.log --skip-name-resolve "
                       f"--log-bin=binlog --binlog-format=ROW --server-id={replica.port}{gtid} "
                       f"2>{replica.dir}/replikit.log"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = replica.wait_ready()
        deadline = t0 + 3600
        while True:
            try:
                conn = pymysql.connect(unix_socket=replica.socket, user="root", password=ROOT_PASSWORD)
                done = replicating(conn, "mysql")
                conn.close()
                if done:
                    break
            except pymysql.MySQLError:
                pass  # the server restarting after the clone
            if time.monotonic() > deadline:
                raise RuntimeError("no replication within an hour")
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        log = open(replica.host_dir + "/replikit.log").read()
        want = "with clone" if method == "clone" else "with a dump"
        if want not in log:
            raise RuntimeError(f"{method}: not seeded {want}: {log}")
        return elapsed
    finally:
        replica.remove()


def measure(flavor, binary, runs, megabytes):
    primary = Server(flavor, "seed-p")
    replica = Server(flavor, "seed-r")
    try:
        rows = generate(primary, megabytes)
        # After the data: replikit on the source grants the donor account
        # every schema there when it sets it up.
        prepare_primary(binary, primary)
        result = {"rows": rows, "replikit": [], "pipe": [], "bytes": 0}
        for _ in range(runs):
            reset(replica)
            elapsed, copied = time_replikit(binary, primary, replica)
            result["replikit"].append(elapsed)
            result["bytes"] = copied
            reset(replica)
            result["pipe"].append(time_pipe(primary, replica))
        if flavor == "mysql":
            result["supervised"] = {"clone": [], "dump": []}
            for _ in range(runs):
                for method in ("clone", "dump"):
                    result["supervised"][method].append(time_supervised(binary, primary, method))
        return result
    finally:
        primary.remove()
        replica.remove()


def main():
    binary, out = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    megabytes = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    results = {"megabytes": megabytes,
               "mariadb-11.8": measure("mariadb", binary, runs, megabytes),
               "mysql-9.7": measure("mysql", binary, runs, megabytes)}
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
