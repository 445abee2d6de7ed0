package pipebench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every architecture Go runs Linux on).
const clockTick = 10 * time.Millisecond

// procTimes is one process's CPU from /proc/<pid>/stat: its own
// (utime+stime) and that of its children it has waited for (cutime+cstime).
type procTimes struct {
	self, children time.Duration
	ppid           int
}

func readProc(pid int) (procTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	n := func(k int) time.Duration { // k: the field's number in proc(5)
		v, _ := strconv.ParseInt(f[k-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	ppid, _ := strconv.Atoi(f[1])
	return procTimes{self: n(14) + n(15), children: n(16) + n(17), ppid: ppid}, nil
}

// cpuOf is a process's CPU including its waited-for children: for the api
// and the worker (whose main.py processes it waits for) and Redis.
func cpuOf(pid int) time.Duration {
	t, err := readProc(pid)
	if err != nil {
		return 0
	}
	return t.self + t.children
}

// treeCPU is the CPU of a process and every live descendant, plus what the
// exited ones left in their parents' cutime/cstime: the postmaster and its
// backends, which come and go during a run.
func treeCPU(root int) time.Duration {
	kids := map[int][]int{}
	all := map[int]procTimes{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		t, err := readProc(pid)
		if err != nil {
			continue
		}
		all[pid] = t
		kids[t.ppid] = append(kids[t.ppid], pid)
	}
	var sum time.Duration
	var walk func(int)
	walk = func(pid int) {
		t, ok := all[pid]
		if !ok {
			return
		}
		sum += t.self + t.children
		for _, k := range kids[pid] {
			walk(k)
		}
	}
	walk(root)
	return sum
}

// childCPU is the CPU of this process's children it waited for.
func childCPU() time.Duration {
	var kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(kids.Utime.Nano() + kids.Stime.Nano())
}

// selfCPU is this process's CPU and that of the children it waited for
// (the raw baselines' main.py runs).
func selfCPU() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
