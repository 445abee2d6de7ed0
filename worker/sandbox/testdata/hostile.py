#!/usr/bin/env python3
"""A hostile main.py for q2o's sandbox tests.

It tries what an attacker's generated code would, and writes what it saw to
report.json in its working directory (the project folder), one key per
attempt. Flags (the --flag=VALUE form, so a value may start with "-"):
  --project-name NAME   checked only for arriving whole
  --secret S            a secret of the worker's environment to hunt for
  --other DIR           another project's folder to read and write
  --outside PATH        a file outside every project to write
  --fill BYTES          write this many bytes into the folder (--slow: 100 MiB/s)
  --daemon MARKER       leave a setsid'd, SIGTERM-ignoring daemon whose argv
                        carries MARKER, writing into the folder forever
  --sleep SECONDS       then wait this long (ignoring SIGTERM with --stubborn)
  --net HOST:PORT       try a TCP connection
  --exit N              end with exit code N
  --alloc BYTES         try to allocate this much memory
"""
import argparse, json, os, signal, socket, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--project-name", default="")
ap.add_argument("--secret", default="")
ap.add_argument("--other", default="")
ap.add_argument("--outside", default="")
ap.add_argument("--fill", type=int, default=0)
ap.add_argument("--slow", action="store_true")
ap.add_argument("--daemon", default="")
ap.add_argument("--sleep", type=float, default=0)
ap.add_argument("--stubborn", action="store_true")
ap.add_argument("--net", default="")
ap.add_argument("--exit", type=int, default=0)
ap.add_argument("--alloc", type=int, default=0)
a, _ = ap.parse_known_args()
report = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "name": a.project_name,
          "env": dict(os.environ), "root": sorted(os.listdir("/")), "pids": [], "secret_found_in": []}

def attempt(key, fn):
    try:
        report[key] = {"ok": True, "value": fn()}
    except Exception as e:
        report[key] = {"ok": False, "error": type(e).__name__ + ": " + str(e)}

for p in os.listdir("/proc"):
    if p.isdigit():
        report["pids"].append(int(p))
        if a.secret:
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if a.secret.encode() in f.read():
                        report["secret_found_in"].append(int(p))
            except Exception:
                pass
attempt("ppid_environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read().decode(errors="replace"))
if a.other:
    attempt("read_other", lambda: os.listdir(a.other))
    attempt("write_other", lambda: open(os.path.join(a.other, "pwned"), "w").write("x"))
    attempt("read_artifacts", lambda: os.listdir(os.path.join(os.path.dirname(a.other), "_artifacts")))
if a.outside:
    attempt("write_outside", lambda: open(a.outside, "w").write("x"))
attempt("write_usr", lambda: open("/usr/pwned", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/mine", "w").write("x"))
if a.net:
    host, port = a.net.rsplit(":", 1)
    attempt("net", lambda: socket.create_connection((host, int(port)), timeout=3).close())

if a.alloc:
    attempt("alloc", lambda: len(bytearray(a.alloc)))

with open("report.json", "w") as f:
    json.dump(report, f)
print("PROGRESS 50 reported", flush=True)

if a.fill:
    try:
        with open("fill.bin", "wb") as f:
            chunk = b"x" * (1 << 20)
            for _ in range(a.fill // len(chunk) + 1):
                f.write(chunk)
                f.flush()
                if a.slow:
                    time.sleep(0.01)
    except Exception as e:
        print("fill stopped:", e, file=sys.stderr, flush=True)
        sys.exit(3)

if a.daemon:
    code = ("import os, signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "if os.fork(): os._exit(0)\n"
            "os.setsid()\n"
            "if os.fork(): os._exit(0)\n"
            "while True:\n"
            "    open('daemon.txt', 'a').write('still here\\n')\n"
            "    time.sleep(0.05)\n")
    subprocess.Popen([sys.executable, "-c", code, a.daemon], start_new_session=True)
    time.sleep(0.3)

if a.stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
end = time.time() + a.sleep
while time.time() < end:
    time.sleep(0.05)
print("PROGRESS 100 done", flush=True)
if a.exit:
    print("the hostile main.py fails on purpose", file=sys.stderr, flush=True)
sys.exit(a.exit)
