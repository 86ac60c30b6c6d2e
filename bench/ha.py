#!/usr/bin/python3
"""Switchover and failover in the Compose cluster: replikit's commands side
by side with the same steps done by hand (run by bench/run).

  bench/ha.py OUT_JSON [SWITCHOVERS]      (REPLIKIT_HA_ONLY=BASE: one flavor)

For each flavor (MariaDB 10.11, MySQL 9.7), two clusters from the shipped
compose.yaml, one after the other:
  replikit: as shipped (peers, the write agent, HAProxy's write backend
            over every node); `replikit switchover --to NODE` and
            `replikit failover`, each run with `docker exec`;
  by-hand:  the same cluster without replikit's high availability
            (REPLIKIT_PEERS removed) and HAProxy's write backend naming the
            primary alone, as in the seeds; the steps an operator types,
            run here as a script from the host over open root sessions, so
            they are a lower bound of a person's time: fence the old
            primary and end its application sessions, wait for the target,
            stop and reset the target's replication, lift read-only, point
            HAProxy at it and reload it, point the others at it (GTID
            auto-positioning, faster than the seed chapter's log positions).
A writer inserts one row every ~5 ms through HAProxy's write port as an
application account and records when each write was acknowledged, and by
which server. Measured:
  switchover: the write unavailability, from the last write acknowledged by
              the old primary to the first by the new one (SWITCHOVERS runs,
              default 3, alternating between primary and replica1);
  failover:   with the writer paused, docker kill of the primary, the writer
              resumed; from the start of the command (or of the first step
              by hand) to the first write acknowledged by the new primary
              (one run per cluster: the killed node stays down).
Writes OUT_JSON: {flavor: {mode: {"switchover": [s...], "failover": [s]}}}.
"""

import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import pymysql

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLAVORS = {"MariaDB 10.11": "bookworm-mariadb", "MySQL 9.7": "sid-mysql"}
NODES = {"primary": 10, "replica1": 11, "replica2": 12}
APP_PASSWORD = "bench-ha-app"


def secret(name):
    with open(os.path.join(REPO, "deploy/secrets", name)) as f:
        return f.read().strip()


class Cluster:
    def __init__(self, base, mode, net, work):
        self.base, self.mode, self.net = base, mode, net
        self.mysql = "mysql" in base
        self.project = f"replikit-bench-ha-{base}-{mode}"
        self.env = dict(os.environ, REPLIKIT_BASE=base, REPLIKIT_PREBUILT="1",
                        REPLIKIT_IMAGE=f"replikit-bench-ha:{base}", REPLIKIT_NET=net,
                        REPLIKIT_PROJECT=self.project)
        self.file = os.path.join(REPO, "compose.yaml")
        if mode == "by-hand":
            self.file, self.haproxy_cfg = by_hand_files(work, base)

    def compose(self, *args):
        subprocess.run(["docker-compose", "-f", self.file, "--project-directory", REPO,
                        "-p", self.project, *args], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def container(self, service):
        return subprocess.run(["docker-compose", "-f", self.file, "--project-directory", REPO,
                               "-p", self.project, "ps", "-q", service], env=self.env,
                              check=True, capture_output=True, text=True).stdout.strip()

    def ip(self, node):
        return f"{self.net}.{NODES[node]}"

    def connect(self, host, user, password, timeout=2, read_timeout=30):
        # MySQL 9.7's caching_sha2_password sends the password only over TLS
        # (the server's own certificate; nothing secret is measured here).
        tls = {"ssl": {"check_hostname": False, "verify_mode": ssl.CERT_NONE}} if self.mysql else {}
        return pymysql.connect(host=host, user=user, password=password, autocommit=True,
                               connect_timeout=timeout, read_timeout=read_timeout,
                               write_timeout=timeout, **tls)

    def root(self, node):
        return self.connect(self.ip(node), "root", secret("mysql-root-password"))

    def up(self):
        subprocess.run([os.path.join(REPO, "scripts/cluster"), "build"], env=self.env, check=True)
        self.compose("down", "-v", "--remove-orphans")
        self.compose("up", "-d", "primary", "replica1", "replica2", "haproxy")
        wait(300, f"{self.project}: the primary takes writes through HAProxy",
             lambda: query(self.connect(f"{self.net}.20", "root", secret("mysql-root-password")),
                           "SELECT @@GLOBAL.read_only")[0][0] == 0)
        with self.root("primary") as c:
            for sql in ["CREATE DATABASE IF NOT EXISTS ha",
                        "CREATE TABLE IF NOT EXISTS ha.w (id BIGINT PRIMARY KEY, sid INT)",
                        f"CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY '{APP_PASSWORD}'",
                        "GRANT INSERT, SELECT ON ha.* TO 'app'@'%'"]:
                c.cursor().execute(sql)
        for replica in ["replica1", "replica2"]:
            wait(300, f"{self.project}: {replica} has the table",
                 lambda: query(self.root(replica),
                               "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'ha'")[0][0] == 1,
                 lambda: f"{replica}'s replication: {self.replica_status(replica)}")
            if self.mode == "by-hand":
                self.replication_account_on(replica)

    def replication_account_on(self, node):
        """By hand, an operator makes the replication account on every node
        beforehand (outside the binary log), so that any may become the
        primary; done before any measurement, the by-hand best case."""
        with self.root(node) as c:
            cur = c.cursor()
            cur.execute("SET sql_log_bin = 0")
            if self.mysql:
                cur.execute("SET GLOBAL super_read_only = OFF")
            cur.execute("CREATE USER IF NOT EXISTS 'repl'@'%%' IDENTIFIED BY %s", (secret("mysql-repl-password"),))
            cur.execute("ALTER USER 'repl'@'%%' IDENTIFIED BY %s", (secret("mysql-repl-password"),))
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'")
            cur.execute("SET GLOBAL read_only = ON" if not self.mysql else "SET GLOBAL super_read_only = ON")

    def replica_status(self, node):
        try:
            with self.root(node) as c:
                cur = c.cursor()
                cur.execute("SHOW REPLICA STATUS" if self.mysql else "SHOW SLAVE STATUS")
                row = dict(zip([d[0] for d in cur.description], cur.fetchone() or []))
                return {k: v for k, v in row.items() if "Running" in k or "Error" in k or "Host" in k}
        except pymysql.Error as e:
            return repr(e)

    def down(self):
        self.compose("down", "-v", "--remove-orphans")

    def server_id(self, node):
        return query(self.root(node), "SELECT @@server_id")[0][0]


def by_hand_files(work, base):
    """compose.yaml without peers, and HAProxy's write backend on one node."""
    with open(os.path.join(REPO, "deploy/haproxy.cfg")) as f:
        cfg = f.read()
    backend = re.search(r"^backend primary\n(.*?)\n\n", cfg, re.S | re.M).group(0)
    cfg = cfg.replace(backend, "backend primary\n    server writer primary:3306 check inter 1s\n\n")
    cfg_path = os.path.join(work, f"haproxy-{base}.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    with open(os.path.join(REPO, "compose.yaml")) as f:
        compose = f.read()
    compose = re.sub(r"\n *REPLIKIT_(PEERS|ADMIN_PASSWORD_FILE|AGENT_WRITE_PORT):[^\n]*", "", compose)
    compose = compose.replace("./deploy/haproxy.cfg:", f"{cfg_path}:")
    compose_path = os.path.join(work, f"compose-{base}.yaml")
    with open(compose_path, "w") as f:
        f.write(compose)
    return compose_path, cfg_path


def query(conn, sql, *args):
    with conn:
        cur = conn.cursor()
        cur.execute(sql, args or None)
        return cur.fetchall()


def wait(seconds, what, check, why=lambda: ""):
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except pymysql.Error as e:
            last = repr(e)
        time.sleep(0.05)
    raise SystemExit(f"bench/ha.py: timed out waiting until {what} ({last}) {why()}")


class Writer(threading.Thread):
    """Inserts through HAProxy's write port; records (when, server-id) of
    every acknowledged write."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.acked, self.stop, self.paused = cluster, [], False, False
        self.conn, self.last_error = None, ""

    def run(self):
        n = 0
        while not self.stop:
            if self.paused:
                self.conn = None
                time.sleep(0.02)
                continue
            try:
                if self.conn is None:
                    # Short timeouts, as an application's: a session that HAProxy
                    # sent to a vanished server must not hold the writer.
                    self.conn = self.cluster.connect(f"{self.cluster.net}.20", "app", APP_PASSWORD,
                                                     timeout=1, read_timeout=1)
                n += 1
                cur = self.conn.cursor()
                cur.execute(f"INSERT INTO ha.w VALUES ({n}, @@server_id)")
                cur.execute("SELECT @@server_id")
                self.acked.append((time.monotonic(), cur.fetchone()[0]))
            except pymysql.Error as e:
                self.conn, self.last_error = None, repr(e)
                time.sleep(0.02)
            time.sleep(0.005)

    def first_by(self, sid, after, seconds=120):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            hit = next((t for t, s in list(self.acked) if s == sid and t > after), None)
            if hit is not None:
                return hit
            time.sleep(0.02)
        raise SystemExit(f"bench/ha.py: no write acknowledged by server {sid} within {seconds} s "
                         f"(the writer's last error: {self.last_error})")

    def last_before(self, t):
        return max(at for at, _ in self.acked if at < t)


# The steps by hand -------------------------------------------------------

def fence(cluster, node):
    with cluster.root(node) as c:
        cur = c.cursor()
        cur.execute("SET GLOBAL super_read_only = ON" if cluster.mysql else "SET GLOBAL read_only = ON")
        cur.execute("SELECT id FROM information_schema.processlist WHERE user = 'app'")
        for (session,) in cur.fetchall():
            try:
                cur.execute(f"KILL {session}")
            except pymysql.Error:
                pass  # it ended by itself
        cur.execute("SELECT @@GLOBAL.gtid_executed" if cluster.mysql else "SELECT @@GLOBAL.gtid_binlog_pos")
        return cur.fetchone()[0]


def promote(cluster, node, wait_for=None):
    with cluster.root(node) as c:
        cur = c.cursor()
        if wait_for is not None:
            cur.execute("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, 20)" if cluster.mysql
                        else "SELECT MASTER_GTID_WAIT(%s, 20)", (wait_for,))
            if cur.fetchone()[0] != 0:
                cur.execute("SHOW REPLICA STATUS" if cluster.mysql else "SHOW SLAVE STATUS")
                status = dict(zip([d[0] for d in cur.description], cur.fetchone() or []))
                raise SystemExit(f"bench/ha.py: {node} did not reach {wait_for} in 20 s: {status}")
        for sql in ["STOP REPLICA", "RESET REPLICA ALL", "SET GLOBAL read_only = OFF"]:
            cur.execute(sql)


def point_haproxy_at(cluster, node):
    # Written in place: the file is bind-mounted, and a new inode would
    # stay unseen in the container. USR2 reloads HAProxy's master-worker.
    with open(cluster.haproxy_cfg, "r+") as f:
        cfg = re.sub(r"server writer \S+:3306", f"server writer {node}:3306", f.read())
        f.seek(0)
        f.write(cfg)
        f.truncate()
    subprocess.run(["docker", "kill", "-s", "USR2", cluster.container("haproxy")],
                   check=True, stdout=subprocess.DEVNULL)


def repoint(cluster, node, source, old_primary=False):
    with cluster.root(node) as c:
        cur = c.cursor()
        cur.execute("STOP REPLICA")
        if cluster.mysql:
            cur.execute("CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_USER = 'repl', "
                        "SOURCE_PASSWORD = %s, SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1",
                        (source, secret("mysql-repl-password")))
        else:
            cur.execute("CHANGE MASTER TO MASTER_HOST = %s, MASTER_USER = 'repl', MASTER_PASSWORD = %s, "
                        f"MASTER_USE_GTID = {'current_pos' if old_primary else 'slave_pos'}",
                        (source, secret("mysql-repl-password")))
        cur.execute("START REPLICA")


def switchover_by_hand(cluster, old, new, others):
    executed = fence(cluster, old)
    promote(cluster, new, wait_for=executed)
    point_haproxy_at(cluster, new)
    repoint(cluster, old, new, old_primary=True)
    for other in others:
        repoint(cluster, other, new)


def most_advanced(cluster, survivors):
    """Each survivor applies what it received; the one holding the most wins."""
    held = {}
    for node in survivors:
        with cluster.root(node) as c:
            cur = c.cursor()
            cur.execute("STOP REPLICA IO_THREAD")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                cur.execute("SHOW REPLICA STATUS" if cluster.mysql else "SHOW SLAVE STATUS")
                row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
                state = row.get("Replica_SQL_Running_State") or row.get("Slave_SQL_Running_State") or ""
                if "read all relay log" in state:
                    break
                time.sleep(0.01)
            else:
                raise SystemExit(f"bench/ha.py: {node} did not apply its relay log within 60 s")
            cur.execute("SELECT @@GLOBAL.gtid_executed" if cluster.mysql else "SELECT @@GLOBAL.gtid_current_pos")
            held[node] = cur.fetchone()[0]
    if cluster.mysql:
        with cluster.root(survivors[0]) as c:
            cur = c.cursor()
            a, b = survivors
            cur.execute("SELECT GTID_SUBSET(%s, %s)", (held[b], held[a]))
            return a if cur.fetchone()[0] == 1 else b
    seq = {n: sum(int(g.split("-")[2]) for g in held[n].split(",") if g) for n in survivors}
    return max(survivors, key=lambda n: seq[n])


def failover_by_hand(cluster, survivors):
    winner = most_advanced(cluster, survivors)
    promote(cluster, winner)
    point_haproxy_at(cluster, winner)
    for other in survivors:
        if other != winner:
            repoint(cluster, other, winner)
    return winner


# One cluster -------------------------------------------------------------

def replikit(cluster, node, args):
    started = time.monotonic()
    out = subprocess.run(["docker", "exec", cluster.container(node), "replikit", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Its log, with seconds since the command started, for reading where time goes.
    print(f"{cluster.project}: replikit {' '.join(args)} ({time.monotonic() - started:.2f} s):\n{out.stdout}", file=sys.stderr)
    out.check_returncode()


def measure(cluster, switchovers):
    writer = Writer(cluster)
    writer.start()
    ids = {n: cluster.server_id(n) for n in NODES}
    writer.first_by(ids["primary"], 0)
    gaps, current = [], "primary"
    for i in range(switchovers):
        target = "replica1" if current == "primary" else "primary"
        time.sleep(2)
        t0 = time.monotonic()
        if cluster.mode == "replikit":
            replikit(cluster, current, ["switchover", "--to", target])
        else:
            switchover_by_hand(cluster, current, target, ["replica2"])
        first = writer.first_by(ids[target], t0)
        gaps.append(first - writer.last_before(first))
        print(f"{cluster.project}: switchover {i + 1} to {target}: {gaps[-1]:.2f} s", file=sys.stderr)
        current = target
    # Failover: the current primary dies; the writer is paused over the kill
    # so that it does not wait on a session to a vanished container.
    time.sleep(2)
    writer.paused = True
    time.sleep(0.2)
    subprocess.run(["docker", "kill", cluster.container(current)], check=True, stdout=subprocess.DEVNULL)
    survivors = [n for n in NODES if n != current]
    writer.paused = False
    t0 = time.monotonic()
    if cluster.mode == "replikit":
        replikit(cluster, survivors[-1], ["failover"])
    else:
        failover_by_hand(cluster, survivors)
    first = first_by_any(writer, [ids[n] for n in survivors], t0)
    writer.stop = True
    print(f"{cluster.project}: failover: {first - t0:.2f} s", file=sys.stderr)
    return {"switchover": gaps, "failover": [first - t0]}


def first_by_any(writer, sids, after, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hit = next((t for t, s in list(writer.acked) if s in sids and t > after), None)
        if hit is not None:
            return hit
        time.sleep(0.02)
    raise SystemExit(f"bench/ha.py: no write acknowledged after the failover within {seconds} s")


def main():
    out_json = sys.argv[1]
    switchovers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results = {}
    with tempfile.TemporaryDirectory() as work:
        # REPLIKIT_HA_ONLY=sid-mysql (or bookworm-mariadb): one flavor.
        only = os.environ.get("REPLIKIT_HA_ONLY")
        for n, (flavor, base) in enumerate(FLAVORS.items()):
            if only and base != only:
                continue
            results[flavor] = {}
            for m, mode in enumerate(["replikit", "by-hand"]):
                cluster = Cluster(base, mode, f"10.254.{40 + 2 * n + m}", work)
                try:
                    cluster.up()
                    results[flavor][mode] = measure(cluster, switchovers)
                finally:
                    cluster.down()
    with open(out_json, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
