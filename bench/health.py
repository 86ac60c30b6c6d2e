#!/usr/bin/python3
"""The cost of one health check of a replica (run by bench/run):

  bench/health.py REPLIKIT_BINARY OUT_DIR [RUNS]

A MariaDB 11.8 primary and a replica set up by replikit; then, side by side
in one hyperfine run, each command run in the replica's root filesystem:
  replikit: `replikit health` (default checks for a replica: ready and
            replication), logging in as the monitoring account;
  script:   bench/baseline/healthcheck.sh, the shell approach of
            mariadb-docker's healthcheck.sh (bash + the client + grep);
  true:     `chroot ROOT /bin/true`, the cost of chroot itself.
Peak RSS per call is the largest process of each command (GNU time's %M),
the median of RUNS // 10 calls; `true` shows the floor (time and chroot).
Writes OUT_DIR/health.json (hyperfine) and OUT_DIR/health-rss.txt.
"""

import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replication import ROOT_PASSWORD, REPL_PASSWORD, Server, prepare_primary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def peak_rss_kib(argv, env):
    """The peak RSS of the biggest process `argv` runs, in KiB, by GNU time
    (wait4's rusage covers the waited-for descendants too). Not Python's
    own rusage: its forked child counts the interpreter's pages before exec."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, env=env, capture_output=True, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1])


def main():
    binary, out_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    primary, replica = Server("mariadb", "health-p"), Server("mariadb", "health-r")
    try:
        prepare_primary(binary, primary)
        replica_env = {"PATH": os.environ["PATH"], "MYSQL_ROOT_PASSWORD": ROOT_PASSWORD,
                       "MYSQL_REPL_USER": "repl", "MYSQL_REPL_PASSWORD": REPL_PASSWORD,
                       "MYSQL_MASTER_HOST": "127.0.0.1", "MYSQL_MASTER_PORT": str(primary.port)}
        # The harness's own set-up of the replica's server (its root
        # account) is in its binary log: forgotten, as a container's
        # first initialisation leaves nothing there, so that `health`'s
        # errant-transaction check (a default since issue 17) passes.
        replica.sql("RESET MASTER")
        subprocess.run([binary, "prepare"], check=True, capture_output=True,
                       env=dict(replica_env, REPLIKIT_SOCKET=replica.socket))

        inside = replica.dir + "/replikit"
        shutil.copy(binary, replica.root + inside)
        shutil.copy(os.path.join(HERE, "baseline", "healthcheck.sh"), replica.host_dir + "/healthcheck.sh")
        with open(replica.host_dir + "/health.cnf", "w") as f:
            f.write(f"[client]\nsocket={replica.dir}/sock\nuser=root\npassword={ROOT_PASSWORD}\n")
        os.chmod(replica.host_dir + "/health.cnf", 0o600)
        env = dict(replica_env, REPLIKIT_SOCKET=replica.dir + "/sock", HEALTH_CNF=replica.dir + "/health.cnf")
        commands = {
            "true": ["chroot", replica.root, "/bin/true"],
            "replikit-health": ["chroot", replica.root, inside, "health"],
            "shell-healthcheck": ["chroot", replica.root, "bash", replica.dir + "/healthcheck.sh"],
        }
        for name, argv in commands.items():
            subprocess.run(argv, env=env, check=True)  # each must pass before it is timed
        hyperfine = ["hyperfine", "-N", "--warmup", "20", "--runs", str(runs),
                     "--export-json", os.path.join(out_dir, "health.json")]
        for name, argv in commands.items():
            hyperfine += ["-n", name, " ".join(argv)]
        subprocess.run(hyperfine, env=env, check=True, stdout=sys.stderr)
        with open(os.path.join(out_dir, "health-rss.txt"), "w") as f:
            for name, argv in commands.items():
                samples = [peak_rss_kib(argv, env) for _ in range(max(5, runs // 10))]
                f.write(f"{name} {statistics.median(samples):.0f}\n")
    finally:
        primary.remove()
        replica.remove()


if __name__ == "__main__":
    main()
