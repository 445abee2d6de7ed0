package worker

import "syscall"

// syscallNoFollow refuses to open run.log through a symlink that main.py may
// have left in its output folder.
const syscallNoFollow = syscall.O_NOFOLLOW
