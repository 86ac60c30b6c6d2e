#!/usr/bin/python3
"""Replication latency, replikit side by side with the seed's prepare.sh, on
real servers from the root filesystems of scripts/rootfs (run by bench/run).

  bench/replication.py REPLIKIT_BINARY OUT_JSON [RUNS]

Two cases, each timed from outside with the same poller (a persistent
connection asking SHOW REPLICA STATUS every millisecond):
  ready:  the source is up and the replica's server is ready; from starting
          the tool to both replication threads running.
  late:   the tool starts while the source is down; from the moment the
          source answers to both replication threads running.
The seed's SQL (SHOW MASTER STATUS, CHANGE MASTER TO) is refused by MySQL
8.4+, so the seed runs on MariaDB 11.8 only; replikit runs on both.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time

import pymysql

ROOTFS = os.environ.get("REPLIKIT_ROOTFS", "/var/cache/replikit-rootfs")
ROOT_PASSWORD = "bench-root"
REPL_PASSWORD = "bench-repl"
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in a root filesystem, run with chroot in private mount and
    PID namespaces, as tests/common/servers.rs does."""

    def __init__(self, flavor, name, options=""):
        self.flavor = flavor
        self.options = options
        self.root = os.path.join(ROOTFS, {"mariadb": "trixie-mariadb", "mysql": "sid-mysql"}[flavor])
        self.dir = f"/srv/bench-{os.getpid()}-{name}"
        self.host_dir = self.root + self.dir
        self.port = free_port()
        self.proc = None
        shutil.rmtree(self.host_dir, ignore_errors=True)
        os.makedirs(self.host_dir)
        if flavor == "mysql":
            init = f"mysqld --no-defaults --initialize-insecure --user=root --datadir={self.dir}/data"
        else:
            init = ("mariadb-install-db --no-defaults --force --user=root "
                    f"--auth-root-authentication-method=normal --skip-test-db --datadir={self.dir}/data")
        self.in_root(f"{init} > {self.dir}/init.log 2>&1").check_returncode()
        self.socket = self.host_dir + "/sock"
        self.start()
        self.wait_ready(password="")
        self.sql(f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}'", password="")
        self.sql(f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{ROOT_PASSWORD}'")
        self.sql(f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{ROOT_PASSWORD}'")
        self.sql("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")

    def in_root(self, script, background=False):
        args = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
                'mount --bind /dev "$R/dev" && mount -t proc proc "$R/proc" && exec chroot "$R" sh -c "$S"']
        env = dict(os.environ, R=self.root, S=script)
        if background:
            return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return subprocess.run(args, env=env, capture_output=True)

    def start(self):
        gtid = " --gtid-mode=ON --enforce-gtid-consistency=ON --mysqlx=OFF" if self.flavor == "mysql" else ""
        self.proc = self.in_root(
            f"exec {'mysqld' if self.flavor == 'mysql' else 'mariadbd'} --no-defaults --user=root "
            f"--datadir={self.dir}/data --port={self.port} --bind-address=127.0.0.1 "
            f"--socket={self.dir}/sock --pid-file={self.dir}/pid --log-error={self.dir}/error.log "
            f"--skip-name-resolve --log-bin=binlog --binlog-format=ROW --server-id={self.port}{gtid} {self.options}",
            background=True)

    def wait_ready(self, password=ROOT_PASSWORD):
        """Polls until the server answers; returns the moment it did."""
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(unix_socket=self.socket, user="root", password=password).close()
                return time.monotonic()
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)

    def stop(self):
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), 15)
        self.proc.wait(60)

    def sql(self, query, password=ROOT_PASSWORD):
        conn = pymysql.connect(unix_socket=self.socket, user="root", password=password, autocommit=True)
        with conn.cursor(pymysql.cursors.DictCursor) as c:
            c.execute(query)
            rows = c.fetchall()
        conn.close()
        return rows

    def remove(self):
        if self.proc and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.host_dir, ignore_errors=True)


def prepare_primary(binary, primary):
    """The primary's accounts (and, on MySQL, the clone plugin), as
    replikit on the primary creates them."""
    subprocess.run([binary, "prepare"], check=True, capture_output=True, env={
        "PATH": os.environ["PATH"], "REPLIKIT_SOCKET": primary.socket, "MYSQL_MASTER": "1",
        "MYSQL_ROOT_PASSWORD": ROOT_PASSWORD, "MYSQL_REPL_USER": "repl",
        "MYSQL_REPL_PASSWORD": REPL_PASSWORD, "REPLIKIT_REPL_HOST": "127.0.0.1"})


def replicating(conn, flavor):
    io, sql = ("Replica_IO_Running", "Replica_SQL_Running") if flavor == "mysql" else ("Slave_IO_Running", "Slave_SQL_Running")
    with conn.cursor(pymysql.cursors.DictCursor) as c:
        c.execute("SHOW REPLICA STATUS")
        row = c.fetchone()
    return bool(row) and row[io] == "Yes" and row[sql] == "Yes"


def wait_replicating(replica, since, proc=None):
    conn = pymysql.connect(unix_socket=replica.socket, user="root", password=ROOT_PASSWORD, autocommit=True)
    deadline = time.monotonic() + 120
    while not replicating(conn, replica.flavor):
        if time.monotonic() > deadline or (proc and proc.poll() not in (None, 0)):
            out = proc.stdout.read().decode() if proc else ""
            raise RuntimeError(f"the replica did not start replicating: {out}")
        time.sleep(0.001)
    conn.close()
    return time.monotonic() - since


def reset(replica):
    replica.sql("STOP REPLICA")
    replica.sql("RESET REPLICA ALL")
    replica.sql("SET GLOBAL read_only = OFF" if replica.flavor == "mariadb" else "SET GLOBAL super_read_only = OFF")


def tool(kind, binary, primary, replica):
    """The replica-side command of `kind`, ready to start."""
    if kind == "replikit":
        env = {"PATH": os.environ["PATH"], "REPLIKIT_SOCKET": replica.socket,
               "MYSQL_ROOT_PASSWORD": ROOT_PASSWORD, "MYSQL_MASTER_HOST": "127.0.0.1",
               "MYSQL_MASTER_PORT": str(primary.port), "MYSQL_REPL_USER": "repl",
               "MYSQL_REPL_PASSWORD": REPL_PASSWORD, "REPLIKIT_PREPARE_TIMEOUT": "120s"}
        return [binary, "prepare"], env
    script = replica.root + "/tmp/seed-prepare.sh"
    shutil.copy(os.path.join(HERE, "seed", "prepare.sh"), script)
    # The seed splits the host name on dots (IFS='.'), so the master needs
    # a name without any, as in Swarm (mysql_master).
    hosts = replica.root + "/etc/hosts"
    if not os.path.exists(hosts) or "mysql_master" not in open(hosts).read():
        with open(hosts, "a") as f:
            f.write("127.0.0.1 mysql_master\n")
    # The client's port and socket, from ~/.my.cnf.
    with open(replica.host_dir + "/.my.cnf", "w") as f:
        f.write(f"[client]\nport={primary.port}\nsocket={replica.dir}/sock\n")
    env = dict(os.environ, R=replica.root, S="exec bash /tmp/seed-prepare.sh", HOME=replica.dir,
               MYSQL_MASTER_HOST="mysql_master", MYSQL_TCP_PORT=str(primary.port),
               MYSQL_ROOT_PASSWORD=ROOT_PASSWORD,
               MYSQL_REPL_USER="repl", MYSQL_REPL_PASSWORD=REPL_PASSWORD, BENCH_IP="127.0.0.1")
    return ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
            'mount --bind /dev "$R/dev" && mount -t proc proc "$R/proc" && exec chroot "$R" sh -c "$S"'], env


def measure(flavor, kind, binary, runs, late_runs):
    primary, replica = Server(flavor, f"{kind}-p"), Server(flavor, f"{kind}-r")
    try:
        prepare_primary(binary, primary)
        ready, late = [], []
        for _ in range(runs):
            reset(replica)
            argv, env = tool(kind, binary, primary, replica)
            t0 = time.monotonic()
            p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            ready.append(wait_replicating(replica, t0, p))
            if p.wait(120) != 0:
                raise RuntimeError(f"{kind} failed")
        for _ in range(late_runs):
            reset(replica)
            primary.stop()
            argv, env = tool(kind, binary, primary, replica)
            p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The source comes up at a random moment of the tool's wait.
            time.sleep(random.uniform(0.5, 3.5))
            primary.start()
            t0 = primary.wait_ready()
            late.append(wait_replicating(replica, t0))
            if p.wait(120) != 0:
                raise RuntimeError(f"{kind} failed")
        return {"ready": ready, "late": late}
    finally:
        primary.remove()
        replica.remove()


def main():
    binary, out = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    late_runs = max(3, runs // 4)
    random.seed(1)
    results = {
        "mariadb-11.8": {k: measure("mariadb", k, binary, runs, late_runs) for k in ("replikit", "seed")},
        "mysql-9.7": {"replikit": measure("mysql", "replikit", binary, runs, late_runs)},
    }
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
