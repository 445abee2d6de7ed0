// Command q2o-cli is the tenants' command line: it speaks only q2o's public
// HTTP API (api/openapi.yaml), and its exit code tells a script how a run
// ended. main only wires: the commands live in the other files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// The exit codes scripts can rely on (README "Command line").
const (
	exitCompleted = 0  // the command worked; a followed run completed
	exitFailed    = 1  // a followed run failed
	exitStopped   = 2  // a followed run was cancelled or paused
	exitRefused   = 3  // the API refused the request (its error code and message are printed)
	exitNetwork   = 4  // the API could not be reached, or the credentials were refused (401)
	exitUsage     = 64 // a bad command line (unknown flag, missing argument)
)

// exitError ends the program with code after printing msg (when not empty)
// on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(&env{stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitCompleted
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "q2o-cli:", ee.msg)
		}
		return ee.code
	}
	if ctx.Err() != nil {
		// Interrupted (Ctrl-C, SIGTERM): whatever the request in flight said.
		fmt.Fprintln(stderr, "q2o-cli: interrupted")
		return 130
	}
	var ae *apiError
	if errors.As(err, &ae) {
		fmt.Fprintf(stderr, "q2o-cli: %s (%s, HTTP %d)\n", ae.Message, ae.Code, ae.Status)
		if ae.Status == 401 {
			return exitNetwork
		}
		return exitRefused
	}
	var ne *networkError
	if errors.As(err, &ne) {
		fmt.Fprintln(stderr, "q2o-cli:", err)
		return exitNetwork
	}
	// Anything else is cobra's: an unknown command or flag, a missing argument.
	fmt.Fprintln(stderr, "q2o-cli:", err)
	return exitUsage
}
