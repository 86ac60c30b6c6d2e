#!/usr/bin/python3
"""Log-in time of replikit's own client, with and without TLS (run by
bench/run):

  bench/login.py OUT_JSON [RUNS]

A MariaDB 11.8 and a MySQL 9.7 server from scripts/rootfs, each with a
certificate from a CA of the run's own (openssl), naming 127.0.0.1. The
stopwatch is examples/log_in.rs (the library's `Conn::connect_tcp`, the
call replikit makes to reach a source): RUNS log-ins over TCP on
localhost per TLS mode, each the whole exchange (greeting, TLS, the
password, the session's set-up, COM_QUIT). MySQL's account uses
caching_sha2_password, warmed once, so each log-in takes its fast path;
`pinned-key` is MySQL's RSA exchange without TLS, against the key replikit
was given (the server's own public_key.pem). Writes OUT_JSON:
{flavor: {mode: [median_us, p90_us]}}.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replication import ROOTFS, Server  # noqa: E402

PASSWORD = "bench-login"
MODES = ["off", "required", "verify-ca", "verify-identity", "pinned-key"]


def certificates(directory):
    script = """set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr
        echo subjectAltName=IP:127.0.0.1 > san.ext
        openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -extfile san.ext -out server-cert.pem"""
    subprocess.run(["sh", "-c", script], cwd=directory, check=True, capture_output=True)


def main():
    out_json = sys.argv[1]
    runs = sys.argv[2] if len(sys.argv) > 2 else "300"
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "log_in"], check=True)
    stopwatch = os.path.abspath("target/release/examples/log_in")
    results = {}
    for flavor in ["mariadb", "mysql"]:
        rootfs = os.path.join(ROOTFS, {"mariadb": "trixie-mariadb", "mysql": "sid-mysql"}[flavor])
        certs = f"/srv/bench-login-certs-{os.getpid()}"
        shutil.rmtree(rootfs + certs, ignore_errors=True)
        os.makedirs(rootfs + certs)
        certificates(rootfs + certs)
        server = None
        try:
            server = Server(flavor, f"login-{flavor}",
                            f"--ssl-ca={certs}/ca.pem --ssl-cert={certs}/server-cert.pem --ssl-key={certs}/server-key.pem")
            server.sql(f"CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            ca = rootfs + certs + "/ca.pem"
            key = server.host_dir + "/data/public_key.pem"
            env = dict(os.environ, LOGIN_PASSWORD=PASSWORD)
            addr = f"127.0.0.1:{server.port}"
            # Warm MySQL's caching_sha2_password cache with one verified log-in.
            subprocess.run([stopwatch, addr, "bench", "verify-identity", ca, "1"], env=env, check=True,
                           capture_output=True)
            results[flavor] = {}
            for mode in MODES:
                if mode == "pinned-key" and flavor != "mysql":
                    continue
                out = subprocess.run([stopwatch, addr, "bench", mode, key if mode == "pinned-key" else ca, runs],
                                     env=env, check=True, capture_output=True, text=True)
                median, p90 = (int(v) for v in out.stdout.split())
                results[flavor][mode] = [median, p90]
                print(f"login {flavor} {mode}: median {median} us, p90 {p90} us", file=sys.stderr)
        finally:
            if server:
                server.remove()
            shutil.rmtree(rootfs + certs, ignore_errors=True)
    with open(out_json, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
