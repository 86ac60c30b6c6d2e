#!/usr/bin/python3
"""Automatic failover through the leader lease in etcd, and what
semi-synchronous replication costs, in the Compose cluster with
compose.etcd.yaml (three etcd members, the default 10 s time-to-live).
Run by hand; results go to docs/benchmarks.md's hand-measured section.

  bench/lease.py OUT_JSON [FAILOVERS]   (REPLIKIT_HA_ONLY=BASE: one flavor)

For each flavor (MariaDB 10.11, MySQL 9.7), two clusters, one after the
other, the same but for REPLIKIT_SEMI_SYNC:
  semi-sync: as compose.etcd.yaml ships it;
  async:     REPLIKIT_SEMI_SYNC=off.
Measured, in each:
  throughput: THREADS application sessions (1, then 8) insert single rows
              through HAProxy's write port for 10 s; acknowledged rows per
              second;
and in the semi-sync cluster only:
  failover:   a writer inserts every ~5 ms; `docker kill` of the primary;
              from the kill to the first write acknowledged by another
              server, with no command run (FAILOVERS runs, default 3; the
              killed node is started again and rejoins before the next).
Writes OUT_JSON: {flavor: {mode: {"throughput": {threads: rows/s},
"failover": [s...]}}}.
"""

import json
import os
import subprocess
import sys
import threading
import time

import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ha  # noqa: E402  (the switchover benchmark's cluster, writer and waits)

REPO = ha.REPO
SECONDS = 10


class LeaseCluster(ha.Cluster):
    """compose.yaml with compose.etcd.yaml, semi-sync on or off."""

    def __init__(self, base, mode, net, work):
        super().__init__(base, "replikit", net, work)
        self.mode = mode
        self.project = f"replikit-bench-lease-{base}-{mode}"
        self.env.update(REPLIKIT_PROJECT=self.project, REPLIKIT_ETCD="1",
                        REPLIKIT_SEMI_SYNC="on" if mode == "semi-sync" else "off")

    def files(self):
        return ["-f", os.path.join(REPO, "compose.yaml"), "-f", os.path.join(REPO, "compose.etcd.yaml")]

    def compose(self, *args):
        subprocess.run(["docker-compose", *self.files(), "--project-directory", REPO,
                        "-p", self.project, *args], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def container(self, service):
        return subprocess.run(["docker-compose", *self.files(), "--project-directory", REPO,
                               "-p", self.project, "ps", "-q", service], env=self.env,
                              check=True, capture_output=True, text=True).stdout.strip()

    def up(self):
        subprocess.run([os.path.join(REPO, "scripts/cluster"), "build"], env=self.env, check=True)
        self.compose("down", "-v", "--remove-orphans")
        self.compose("up", "-d", "etcd1", "etcd2", "etcd3")
        super().up()

    def writable(self):
        found = []
        for node in ha.NODES:
            try:
                if ha.query(self.root(node), "SELECT @@GLOBAL.read_only")[0][0] == 0:
                    found.append(node)
            except pymysql.Error:
                pass
        return found

    def follows(self, node, primary):
        """Both replication threads of `node` run, from `primary`."""
        status = self.replica_status(node)
        if not isinstance(status, dict):
            return False
        host = status.get("Source_Host", status.get("Master_Host", ""))
        running = [v for k, v in status.items() if k.endswith("_Running")]
        return running == ["Yes", "Yes"] and host in (primary, self.ip(primary))


def throughput(cluster, threads):
    """Rows per second that `threads` sessions get acknowledged in SECONDS."""
    counts = [0] * threads
    stop = time.monotonic() + SECONDS

    def insert(i):
        conn = cluster.connect(f"{cluster.net}.20", "app", ha.APP_PASSWORD, timeout=5, read_timeout=30)
        cur = conn.cursor()
        n = 0
        while time.monotonic() < stop:
            cur.execute(f"INSERT INTO ha.w VALUES ({(threads * 100 + i + 1) * 10**9 + n}, @@server_id)")
            n += 1
        counts[i] = n
        conn.close()

    workers = [threading.Thread(target=insert, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / SECONDS


def failover(cluster, writer):
    primary = cluster.writable()
    assert len(primary) == 1, f"{cluster.project}: writable nodes {primary}"
    primary = primary[0]
    old = cluster.server_id(primary)
    subprocess.run(["docker", "kill", cluster.container(primary)], check=True, stdout=subprocess.DEVNULL)
    killed = time.monotonic()
    deadline = killed + 120
    while time.monotonic() < deadline:
        hit = next((t for t, s in list(writer.acked) if s != old and t > killed), None)
        if hit is not None:
            break
        time.sleep(0.02)
    else:
        raise SystemExit(f"bench/lease.py: {cluster.project}: no new primary within 120 s "
                         f"(the writer's last error: {writer.last_error})")
    took = hit - killed
    print(f"{cluster.project}: docker kill of {primary} to the first write on the new primary: {took:.2f} s",
          file=sys.stderr)
    # The killed node comes back and rejoins before the next run.
    subprocess.run(["docker", "start", cluster.container(primary)], check=True, stdout=subprocess.DEVNULL)
    new = cluster.writable()
    ha.wait(300, f"{cluster.project}: {primary} follows the new primary",
            lambda: len(new) == 1 and cluster.follows(primary, new[0]),
            lambda: f"{primary}'s replication: {cluster.replica_status(primary)}")
    # A lease that is seen and renewed, a writer that settled.
    time.sleep(5)
    return took


def main():
    out, failovers = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = os.environ.get("REPLIKIT_HA_ONLY")
    results = {}
    work = os.environ.get("TMPDIR", "/tmp")
    for i, (flavor, base) in enumerate(ha.FLAVORS.items()):
        if only and base != only:
            continue
        results[flavor] = {}
        for j, mode in enumerate(["semi-sync", "async"]):
            cluster = LeaseCluster(base, mode, f"10.251.{40 + 2 * i + j}", work)
            try:
                cluster.up()
                row = {"throughput": {t: throughput(cluster, t) for t in (1, 8)}}
                print(f"{cluster.project}: throughput {row['throughput']}", file=sys.stderr)
                if mode == "semi-sync":
                    writer = ha.Writer(cluster)
                    writer.start()
                    time.sleep(3)
                    row["failover"] = [failover(cluster, writer) for _ in range(failovers)]
                    writer.stop = True
                results[flavor][mode] = row
            finally:
                cluster.down()
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
