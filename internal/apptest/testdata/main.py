#!/usr/bin/env python3
"""A small main.py for q2o's tests: portal-mode flags plus --mode.

Modes: ok (progress, files, exit 0), fail (stderr, exit 1), sleep (runs
--seconds, ignoring SIGTERM if --stubborn, with a child process), argv (writes
its argv as JSON to argv.json in the output folder). --counter FILE appends a
line to FILE each time it starts, so tests can count runs.
"""
import argparse, json, os, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--project-id", required=True)
ap.add_argument("--project-name", required=True)
ap.add_argument("--description", required=True)
ap.add_argument("--objectives", required=True)
ap.add_argument("--output-folder", required=True)
ap.add_argument("--mode", default="ok")
ap.add_argument("--seconds", type=float, default=0.2)
ap.add_argument("--stubborn", action="store_true")
ap.add_argument("--counter")
a = ap.parse_args()

if a.counter:
    with open(a.counter, "a") as f:
        f.write(f"{os.getpid()} {os.getpgrp()}\n")

out = a.output_folder
if a.mode == "argv":
    with open(os.path.join(out, "argv.json"), "w") as f:
        json.dump({"argv": sys.argv, "env": {k: v for k, v in os.environ.items()}, "cwd": os.getcwd()}, f)
    print("PROGRESS 100 argv written", flush=True)
    sys.exit(0)

if a.mode == "fail":
    print("PROGRESS 30 working", flush=True)
    for i in range(50):
        print(f"noise line {i}", file=sys.stderr)
    print("Traceback (most recent call last):", file=sys.stderr)
    print("RuntimeError: the agents could not agree", file=sys.stderr, flush=True)
    sys.exit(1)

if a.mode == "sleep":
    if a.stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", str(int(a.seconds) + 5)])
    with open(os.path.join(out, "main.pid"), "w") as f:
        f.write(str(os.getpid()))
    with open(os.path.join(out, "child.pid"), "w") as f:
        f.write(str(child.pid))
    print("PROGRESS 5 sleeping", flush=True)
    end = time.time() + a.seconds
    while time.time() < end:
        time.sleep(0.05)
    child.kill()
    print("PROGRESS 100 woke up", flush=True)
    sys.exit(0)

print("starting the agents", flush=True)
for p, msg in ((10, "planning"), (50, "writing code"), (90, "testing")):
    print(f"PROGRESS {p} {msg}", flush=True)
    time.sleep(a.seconds / 3)
os.makedirs(os.path.join(out, "src"), exist_ok=True)
with open(os.path.join(out, "src", "app.py"), "w") as f:
    f.write(f"# {a.project_name}\nprint('hello')\n")
with open(os.path.join(out, "README.md"), "w") as f:
    f.write(f"# {a.project_name}\n\n{a.description}\n\n{a.objectives}\n")
with open(os.path.join(out, ".env"), "w") as f:
    f.write("SECRET=not-for-clients\n")
print("a warning on stderr", file=sys.stderr, flush=True)
print("PROGRESS 100 done", flush=True)
