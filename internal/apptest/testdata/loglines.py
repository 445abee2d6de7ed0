#!/usr/bin/env python3
"""A main.py for the live-log tests: it prints numbered lines in phases and,
between two phases, waits until the test lets it go on by creating the file
gate<N> in the output folder. So a test knows the run is still live while
it reads its log, without sleeping and hoping.

--phases 3,2      lines per phase ("phase P line I")
--width N         pad each line with dots to N bytes (newline included)
--rate R          about R lines a second in each phase (0: as fast as it can)
--flush           flush stdout after every line (as a chatty print(..., flush=True))
--term-wait S     on SIGTERM, wait S seconds, print "stopped after SIGTERM" and exit 0
"""
import argparse, os, signal, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--output-folder", required=True)
ap.add_argument("--phases", default="3,3")
ap.add_argument("--width", type=int, default=0)
ap.add_argument("--rate", type=float, default=0)
ap.add_argument("--flush", action="store_true")
ap.add_argument("--term-wait", type=float, default=0)
a, _ = ap.parse_known_args()  # the portal's other flags are ignored


def on_term(signum, frame):
    time.sleep(a.term_wait)
    print("stopped after SIGTERM", flush=True)
    sys.exit(0)


if a.term_wait:
    signal.signal(signal.SIGTERM, on_term)


def gate(n):
    path = os.path.join(a.output_folder, f"gate{n}")
    while not os.path.exists(path):
        time.sleep(0.02)


for p, count in enumerate(int(x) for x in a.phases.split(",")):
    if p > 0:
        gate(p)
    start = time.time()
    for i in range(count):
        line = f"phase {p + 1} line {i + 1}"
        if a.width:
            line = line.ljust(a.width - 1, ".")
        print(line, flush=a.flush)
        if a.rate and (i + 1) % 100 == 0:
            ahead = start + (i + 1) / a.rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    sys.stdout.flush()
print("PROGRESS 100 done", flush=True)
