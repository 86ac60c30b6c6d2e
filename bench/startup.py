#!/usr/bin/python3
"""Start-up overhead of replikit against tini and dumb-init, interleaved
(issue 20): ROUNDS rounds, each command once per round with hyperfine -N
(RUNS runs each), in a rotated order, so that no command always runs first
or last on this noisy 2-CPU machine; medians over all runs. Settings come
from the environment, as in a container (a flag would build clap's parser).

  bench/startup.py ROUNDS RUNS [BEFORE_BINARY]

With BEFORE_BINARY (an earlier static build), its rows run beside."""
import json, os, subprocess, sys, tempfile
rounds, runs = int(sys.argv[1]), int(sys.argv[2])
R = subprocess.check_output(["/work/main/scripts/build-static"], stderr=subprocess.DEVNULL, text=True).strip()
B = sys.argv[3] if len(sys.argv) > 3 else None
w = tempfile.mkdtemp()
os.mkdir(f"{w}/run")
open(f"{w}/u2.cnf", "w").write("[mysqld]\nmax_connections=5\n")
user = f"printf '[mysqld]\\nserver-id=1\\n' > {w}/u.cnf"
own, users, users2 = f"{w}/r.cnf", f"{w}/u.cnf", f"{w}/u2.cnf"
# name, command, hyperfine --prepare, REPLIKIT_CNF
cmds = [
    ("true", "/bin/true", "true", own),
    ("tini", "tini-static -s -- /bin/true", "true", own),
    ("dumb-init", "dumb-init /bin/true", "true", own),
]
for tag, binary in [("replikit", R)] + ([("before", B)] if B else []):
    cmds += [
        # replikit's own file, created (the first start of a container).
        (f"{tag}-create", f"{binary} -- /bin/true", f"rm -f {own}", own),
        # Every later start: the same address, the same bytes, no write.
        (f"{tag}-unchanged", f"{binary} -- /bin/true", "true", own),
        # A file the user owns, its server-id changed each run: synced.
        (f"{tag}-user-file-changed", f"{binary} -- /bin/true", user, users),
        # A file the user owns, unchanged (every later start).
        (f"{tag}-user-file-unchanged", f"{binary} -- /bin/true", "true", users2),
    ]
times = {c[0]: [] for c in cmds}
for r in range(rounds):
    k = r % len(cmds)
    for name, cmd, prep, cnf in cmds[k:] + cmds[:k]:
        # As bench/run: the socket's folder of an official image, and no
        # RUST_BACKTRACE (a container does not set it).
        env = dict(os.environ, REPLIKIT_CNF=cnf, REPLIKIT_ROLE="standalone", REPLIKIT_LOG="warn",
                   REPLIKIT_SOCKET=f"{w}/run/mysqld.sock")
        env.pop("RUST_BACKTRACE", None)
        env.pop("RUST_LIB_BACKTRACE", None)
        subprocess.run(["hyperfine", "-N", "--warmup", "10", "--runs", str(runs), "--prepare", prep,
                        "--export-json", f"{w}/o.json", "-n", name, cmd], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name] += json.load(open(f"{w}/o.json"))["results"][0]["times"]
med = {n: sorted(t)[len(t) // 2] * 1000 for n, t in times.items()}
base, tini = med["true"], med["tini"] - med["true"]
print(f"| command | median ms | overhead ms | overhead / tini |")
print("|---|---|---|---|")
for n, *_ in cmds:
    o = med[n] - base
    print(f"| {n} | {med[n]:.3f} | {o:.3f} | {o / tini:.2f} |")
