#!/usr/bin/env python3
"""main.py of the cluster tests: portal-mode flags; what it does is in the
project's description, `seconds=N bytes=N` (how long it runs, how many random
bytes it writes into payload.bin, for a zip that takes a while to upload).

Each start appends `<execution_id> <host> <pid>` to $CLUSTER_HOST_DIR/starts
(the worker host's own folder: scripts/cluster.sh gives the worker
CLUSTER_HOST and CLUSTER_HOST_DIR, and Q2O_RUNNER_PASS_ENV lets them
through), so a test can count the attempts that really started, and where.
While it runs it prints a `tick <n> <execution_id> on <host>` line every
0.2 s, which the live-log test follows from another host.
"""
import argparse, os, re, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--project-id", required=True)
ap.add_argument("--project-name", required=True)
ap.add_argument("--description", required=True)
ap.add_argument("--objectives", required=True)
ap.add_argument("--output-folder", required=True)
a = ap.parse_args()

def knob(name, default):
    m = re.search(rf"\b{name}=([0-9.]+)", a.description)
    return float(m.group(1)) if m else default

seconds, size = knob("seconds", 1), int(knob("bytes", 0))
host = os.environ.get("CLUSTER_HOST", "?")
execution = os.environ.get("Q2O_EXECUTION_ID", "?")
with open(os.path.join(os.environ.get("CLUSTER_HOST_DIR", "."), "starts"), "a") as f:
    f.write(f"{execution} {host} {os.getpid()}\n")

print(f"PROGRESS 1 started on {host}", flush=True)
end, n = time.time() + seconds, 0
while time.time() < end:
    n += 1
    print(f"tick {n} {execution} on {host}", flush=True)
    time.sleep(0.2)
out = a.output_folder
with open(os.path.join(out, "README.md"), "w") as f:
    f.write(f"# {a.project_name}\n\nran on {host}\n")
if size:
    with open(os.path.join(out, "payload.bin"), "wb") as f:
        left = size
        while left > 0:
            chunk = os.urandom(min(left, 1 << 20))
            f.write(chunk)
            left -= len(chunk)
print("PROGRESS 100 done", flush=True)
