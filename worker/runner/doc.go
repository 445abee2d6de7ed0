// Package runner starts main.py for one execution and supervises it.
//
// It builds the command line from an argument template without ever going
// through a shell ([Argv]), gives the program the worker's environment minus
// its secrets ([Env]), and runs it in a process group of its own ([Run]):
// stdout and stderr are appended to run.log, progress is reported as it
// arrives (lines of either stream that [ProgressPatterns] match, by default
// "PROGRESS <0-100> [message]", and the progress file [ProgressFileName]),
// and when the run is cancelled
// or times out the whole group gets SIGTERM, then SIGKILL after a grace
// period. Run returns only once every process of the group has been killed
// or has exited and all output is in the log, so nothing that main.py started
// outlives the run that started it.
//
// The package is written for Linux (on Linux the program also dies with the
// worker); other Unix systems get the same behaviour minus that last
// guarantee. A process that leaves the group on purpose (setsid, setpgid) is
// out of reach of the group signals; containing that needs a cgroup.
package runner
