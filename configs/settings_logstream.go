package configs

import (
	"errors"
	"time"
)

// The settings of the live run logs: the worker publishes each run's log to
// a Redis stream of its own (events.LogStreams), which every API replica
// follows.

var logStreamSettings = &group{title: "live run logs", settings: []Setting{
	{Env: "Q2O_LOG_STREAM_BYTES", For: Worker,
		Default: "2MiB",
		Help:    "how much of the end of a run's log its live stream in Redis keeps, for followers that resume (what it no longer holds comes from the stored log)",
		bind:    bind(func(c *Config) *ByteSize { return &c.LogStreamBytes }, size, atLeastKiB)},
	{Env: "Q2O_LOG_STREAM_FLUSH", For: Worker,
		Default: "100ms",
		Help:    "the longest main.py's output waits before the worker sends it to the live stream (it sends at once when 32 KiB wait): longer costs fewer Redis commands, and followers see lines later",
		bind:    bind(func(c *Config) *time.Duration { return &c.LogStreamFlush }, duration, positive)},
	{Env: "Q2O_LOG_STREAM_LINGER", For: Worker,
		Default: "2m",
		Help:    "how long a run's live stream stays in Redis after its log is complete; the stored log serves the run after that",
		bind:    bind(func(c *Config) *time.Duration { return &c.LogStreamLinger }, duration, positive)},
}}

func atLeastKiB(v *ByteSize, _ *Config) error {
	if *v < 1<<10 {
		return errors.New("must be at least 1KiB")
	}
	return nil
}
