#!/usr/bin/python3
"""Seeding at disk speed (issue 20), run by bench/run:

  bench/physical.py REPLIKIT_BINARY OUT_JSON [MEGABYTES]

One source per flavor holding at least MEGABYTES (default 2048) of data
files in tables of mixed sizes (one large, several middling, many small),
and side by side on that same data:
  raw:      the source's data files (its data directory but the binary
            logs, which no seed copies) through `tar` piped over a loopback
            TCP connection into `tar -x`: the physical limit;
  physical: (MariaDB 11.8) a new replica under replikit as PID 1 with
            REPLIKIT_SEED=physical: the source's replikit streams
            mariadb-backup, the replica unpacks, prepares, restarts on it;
  clone:    (MySQL 9.7) the same with REPLIKIT_SEED=clone;
  dump:     the same with REPLIKIT_SEED=dump, for reference.
Each is timed from the replica's request to the seed done, as replikit
logs it ("... N bytes in S s"; the raw copy by the clock), and its
throughput is the source's data-directory bytes over that time, so every
method is measured against the same work.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replication import ROOT_PASSWORD, REPL_PASSWORD, Server, free_port, prepare_primary, replicating  # noqa: E402
from seeding import install  # noqa: E402

INSIDE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def generate(primary, megabytes):
    """Tables of mixed sizes: 60 % in one, 30 % in six, 10 % in sixty."""
    primary.sql("CREATE DATABASE bench")
    plan = [("big", 0.6, 1)] + [(f"mid{i}", 0.05, 1) for i in range(6)] + [(f"small{i}", 0.1 / 60, 1) for i in range(60)]
    for name, share, _ in plan:
        primary.sql(f"CREATE TABLE bench.{name} (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, "
                    "pad VARCHAR(1000) NOT NULL, KEY (k)) ENGINE=InnoDB")
        primary.sql(f"INSERT INTO bench.{name} (k, pad) VALUES (1, REPEAT(SHA2('1', 256), 15))")
        rows, want = 1, max(1, int(share * megabytes * 1024 * 1024 / 1100))
        while rows < want:
            primary.sql(f"INSERT INTO bench.{name} (k, pad) SELECT (id * 7919) % 100000, "
                        f"REPEAT(SHA2(id + {rows}, 256), 15) FROM bench.{name} LIMIT {want - rows}")
            rows = min(rows * 2, want)
    primary.sql("FLUSH TABLES")


def datadir_bytes(server):
    """The data files: the data directory without its binary logs, which
    no seed copies (the raw copy leaves them out too)."""
    out = subprocess.run(["du", "-sb", "--exclude=binlog.*", server.host_dir + "/data"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def time_raw(primary, work):
    """`tar -c` of the source's data directory, over a loopback TCP
    connection, into `tar -x`: the physical limit of a copy."""
    import threading
    dest = os.path.join(work, f"raw-{time.monotonic_ns()}")
    os.makedirs(dest)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def receive():
        conn, _ = listener.accept()
        untar = subprocess.Popen(["tar", "-x", "-C", dest], stdin=subprocess.PIPE)
        while chunk := conn.recv(1 << 20):
            untar.stdin.write(chunk)
        untar.stdin.close()
        untar.wait()
        conn.close()

    t0 = time.monotonic()
    receiver = threading.Thread(target=receive)
    receiver.start()
    tar = subprocess.Popen(["tar", "-c", "--exclude=./binlog.*", "-C", primary.host_dir + "/data", "."],
                           stdout=subprocess.PIPE)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while chunk := tar.stdout.read(1 << 20):
            sock.sendall(chunk)
    tar.wait()
    receiver.join()
    elapsed = time.monotonic() - t0
    listener.close()
    subprocess.run(["rm", "-rf", dest], check=True)
    return elapsed


def start_under_replikit(server, inside, env):
    """The server's command under replikit as PID 1."""
    server.stop()
    gtid = " --gtid-mode=ON --enforce-gtid-consistency=ON --mysqlx=OFF" if server.flavor == "mysql" else ""
    binary = "mysqld" if server.flavor == "mysql" else "mariadbd"
    server.proc = subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
         'mount --bind /dev "$R/dev" && mount -t proc proc "$R/proc" && exec chroot "$R" sh -c "$S"'],
        env=dict(env, R=server.root, PATH=INSIDE_PATH,
                 S=f"exec {inside} -- {binary} --no-defaults --user=root --datadir={server.dir}/data "
                   f"--port={server.port} --bind-address=127.0.0.1 --socket={server.dir}/sock "
                   f"--pid-file={server.dir}/pid --log-error={server.dir}/error.log --skip-name-resolve "
                   f"--log-bin=binlog --binlog-format=ROW --server-id={server.port}{gtid} "
                   f"2>{server.dir}/replikit.log"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.wait_ready()


def time_seed(binary, primary, method, donor_port):
    """A fresh replica under replikit seeded by `method`; the seconds of the
    seed, as replikit logs them."""
    replica = Server(primary.flavor, f"phys-{method}-{time.monotonic_ns()}")
    try:
        inside = install(binary, replica)
        env = {"MYSQL_ROOT_PASSWORD": ROOT_PASSWORD, "MYSQL_MASTER_HOST": "127.0.0.1",
               "MYSQL_MASTER_PORT": str(primary.port), "MYSQL_REPL_USER": "repl",
               "MYSQL_REPL_PASSWORD": REPL_PASSWORD, "REPLIKIT_REPL_HOST": "127.0.0.1",
               "REPLIKIT_SEED": method, "REPLIKIT_SOCKET": replica.dir + "/sock",
               "REPLIKIT_SERVER_ID_VIA": "off", "REPLIKIT_DONOR_PORT": str(donor_port),
               "REPLIKIT_DATADIR": replica.dir + "/data"}
        start_under_replikit(replica, inside, env)
        deadline = time.monotonic() + 3600
        log_path = replica.host_dir + "/replikit.log"
        while True:
            log = open(log_path).read()
            m = re.search(r"seeding: done \((?:physical copy|clone|dump) from [^,]+, (?:(\d+) bytes in )?([\d.]+) s\)", log)
            if m is None:
                m = re.search(r"seeding: done \(clone from \S+ in ([\d.]+) s\)", log)
                if m:
                    return float(m.group(1))
            else:
                return float(m.group(2))
            if "error" in log and "replication:" in log and "trying again" not in log:
                raise RuntimeError(f"{method}: {log[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method}: no seed within an hour: {log[-2000:]}")
            time.sleep(0.2)
    finally:
        replica.remove()


def measure(flavor, binary, megabytes, work):
    primary = Server(flavor, "phys-p")
    donor_port = free_port()
    try:
        generate(primary, megabytes)
        size = datadir_bytes(primary)
        if flavor == "mariadb":
            inside = install(binary, primary)
            start_under_replikit(primary, inside, {
                "MYSQL_ROOT_PASSWORD": ROOT_PASSWORD, "MYSQL_MASTER": "1", "MYSQL_REPL_USER": "repl",
                "MYSQL_REPL_PASSWORD": REPL_PASSWORD, "REPLIKIT_REPL_HOST": "127.0.0.1",
                "REPLIKIT_SOCKET": primary.dir + "/sock", "REPLIKIT_SERVER_ID_VIA": "off",
                "REPLIKIT_DONOR_PORT": str(donor_port)})
            deadline = time.monotonic() + 120
            while "physical seeds: served" not in open(primary.host_dir + "/replikit.log").read():
                if time.monotonic() > deadline:
                    raise RuntimeError("the donor did not start")
                time.sleep(0.2)
        else:
            prepare_primary(binary, primary)
        result = {"bytes": size, "raw": time_raw(primary, work)}
        for method in (["physical", "dump"] if flavor == "mariadb" else ["clone", "dump"]):
            result[method] = time_seed(binary, primary, method, donor_port)
        return result
    finally:
        primary.remove()


def main():
    binary, out = sys.argv[1], sys.argv[2]
    megabytes = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    work = os.path.dirname(os.path.abspath(out))
    results = {"megabytes": megabytes,
               "mariadb-11.8": measure("mariadb", binary, megabytes, work),
               "mysql-9.7": measure("mysql", binary, megabytes, work)}
    with open(out, "w") as f:
        json.dump(results, f)
    mb = 1e6
    print("| servers | method | seconds | MB/s | / raw copy |")
    print("|---|---|---|---|---|")
    for servers in ("mariadb-11.8", "mysql-9.7"):
        r = results[servers]
        raw = r["bytes"] / r["raw"] / mb
        for method in ("raw", "physical", "clone", "dump"):
            if method in r:
                rate = r["bytes"] / r[method] / mb
                print(f"| {servers} ({r['bytes'] / 2**30:.2f} GiB) | {method} | {r[method]:.1f} | {rate:.0f} | {rate / raw:.2f} |")


if __name__ == "__main__":
    main()
