#!/usr/bin/python3
"""hyperfine -N, interleaved: ROUNDS rounds, each command once per round
(RUNS runs), in an order rotated each round, so that no command always
runs first or last on a noisy machine (on 2 CPUs one fixed order moved a
row by up to 0.5 ms). Writes hyperfine's JSON shape, every run's time kept,
median/mean/stddev over all of them.

  bench/interleaved.py ROUNDS RUNS OUT.json -n NAME 'CMD' --prepare 'PREP' ...

Each `-n NAME CMD` may be followed by `--prepare PREP` (default `true`)
and by `--env VAR=VALUE`, which that command runs with (hyperfine -N
starts it directly: no `env` in between)."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

rounds, runs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
commands, args = [], sys.argv[4:]
while args:
    if args[0] == "-n" and len(args) >= 3:
        commands.append([args[1], args[2], "true", []])
        args = args[3:]
    elif args[0] == "--prepare" and len(args) >= 2 and commands:
        commands[-1][2] = args[1]
        args = args[2:]
    elif args[0] == "--env" and len(args) >= 2 and "=" in args[1] and commands:
        commands[-1][3].append(args[1].split("=", 1))
        args = args[2:]
    else:
        sys.exit(f"bench/interleaved.py: unexpected argument {args[0]!r}; see its usage line")

times = {name: [] for name, *_ in commands}
with tempfile.NamedTemporaryFile(suffix=".json") as one:
    for r in range(rounds):
        k = r % len(commands)
        for name, cmd, prep, extra in commands[k:] + commands[:k]:
            env = dict(os.environ, **dict(extra))
            subprocess.run(["hyperfine", "-N", "--warmup", "10", "--runs", str(runs), "--prepare", prep,
                            "--export-json", one.name, "-n", name, cmd],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            times[name] += json.load(open(one.name))["results"][0]["times"]
results = [{"command": name, "median": statistics.median(t), "mean": statistics.mean(t),
            "stddev": statistics.stdev(t), "times": t} for name, t in times.items()]
json.dump({"results": results, "rounds": rounds, "runs_per_round": runs}, open(out, "w"))
