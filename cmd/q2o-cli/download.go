package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// How long download waits for a zip that is being made.
const zipWait = 2 * time.Minute

// Body reads cut short are resumed (with Range) this many times.
const downloadAttempts = 5

func newDownloadCmd(e *env) *cobra.Command {
	var eid, file string
	cmd := &cobra.Command{
		Use:   "download PROJECT",
		Short: "Download the zip of the project's latest run (or --execution's)",
		Long: `Downloads the run's zip to -o FILE (default: the project's name, .zip),
through FILE.part: a download cut short resumes where it stopped (Range),
in this command and in the next one. The file is checked against the ETag,
the zip's SHA-256, before it is given its name. Waits while the zip is being
made.`,
		Example: "  q2o-cli download $PROJECT -o todo.zip",
		Args:    cobra.ExactArgs(1),
		RunE: e.withProject(func(ctx context.Context, c *client, pid uuid.UUID, _ []string) error {
			p, _, err := answer(c.api.GetProjectWithResponse(ctx, pid))
			if err != nil {
				return err
			}
			target := runID{project: pid}
			switch {
			case eid != "":
				if target.execution, err = parseID("an execution", eid); err != nil {
					return err
				}
			case p.LatestExecutionId == nil:
				return &exitError{code: exitRefused, msg: "the project has never run"}
			default:
				target.execution = *p.LatestExecutionId
			}
			if file == "" {
				file = fileName(p.Name) + ".zip"
			}
			size, err := e.download(ctx, c, target, file)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s (%d bytes, SHA-256 checked)\n", file, size)
			return nil
		}),
	}
	cmd.Flags().StringVar(&eid, "execution", "", "an execution of the project (default: the latest)")
	cmd.Flags().StringVarP(&file, "file", "o", "", "where to write the zip (default: PROJECT-NAME.zip)")
	return cmd
}

// fileName keeps the letters, digits, dots, dashes and underscores of name.
func fileName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		case r == ' ':
			return '-'
		}
		return -1
	}, name)
	if strings.Trim(s, ".") == "" {
		return "download"
	}
	return s
}

// download writes the run's zip to file, resuming file.part, and returns
// its size once its SHA-256 matches the ETag.
func (e *env) download(ctx context.Context, c *client, r runID, file string) (int64, error) {
	part := file + ".part"
	resumed := false
	for attempt := 0; ; attempt++ {
		etag, done, err := e.fetch(ctx, c, r, part, &resumed)
		if err != nil {
			var ne *networkError
			if errors.As(err, &ne) && attempt < downloadAttempts && ctx.Err() == nil {
				fmt.Fprintf(e.stderr, "q2o-cli: %v; resuming\n", err)
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				continue
			}
			return 0, err
		}
		if !done {
			continue
		}
		sum, size, err := fileSHA256(part)
		if err != nil {
			return 0, err
		}
		if etag != "" && sum != etag {
			os.Remove(part)
			if resumed {
				resumed = false
				fmt.Fprintln(e.stderr, "q2o-cli: the resumed file does not match the zip's SHA-256; downloading it again")
				continue
			}
			return 0, &exitError{code: exitNetwork, msg: fmt.Sprintf("the download's SHA-256 %s is not the zip's %s", sum, etag)}
		}
		return size, os.Rename(part, file)
	}
}

// fetch makes one request for what part lacks and appends the answer to it.
// done is true once part holds the whole zip; etag is the zip's SHA-256.
func (e *env) fetch(ctx context.Context, c *client, r runID, part string, resumed *bool) (etag string, done bool, err error) {
	var have int64
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	}
	from := func(_ context.Context, req *http.Request) error {
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		return nil
	}
	deadline := time.Now().Add(zipWait)
	var res *http.Response
	for {
		if res, err = c.raw.DownloadExecution(ctx, r.project, r.execution, from); err != nil {
			return "", false, err
		}
		if res.StatusCode != http.StatusAccepted {
			break
		}
		res.Body.Close()
		wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		if time.Now().After(deadline) {
			return "", false, &exitError{code: exitRefused, msg: "the zip is still being made; try again later"}
		}
		select {
		case <-ctx.Done():
			return "", false, ctx.Err()
		case <-time.After(time.Duration(max(wait, 1)) * time.Second):
		}
	}
	defer res.Body.Close()
	etag = strings.Trim(strings.TrimPrefix(res.Header.Get("ETag"), "W/"), `"`)
	flags := os.O_WRONLY | os.O_CREATE
	switch res.StatusCode {
	case http.StatusOK:
		flags |= os.O_TRUNC
		have = 0
	case http.StatusPartialContent:
		flags |= os.O_APPEND
		*resumed = true
	case http.StatusRequestedRangeNotSatisfiable:
		// part is as long as the zip already (or longer: a stale part).
		total := rangeTotal(res.Header.Get("Content-Range"))
		if total == have {
			etag, err := c.headETag(ctx, r)
			return etag, err == nil, err
		}
		return "", false, os.Remove(part)
	default:
		return "", false, readRefusal(res)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var w io.Writer = f
	if isTerminal(e.stderr) {
		bar := progressbar.NewOptions64(have+res.ContentLength,
			progressbar.OptionSetWriter(e.stderr), // stdout is the file's name, for scripts
			progressbar.OptionSetDescription("downloading"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(65*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetRenderBlankState(true),
		)
		_ = bar.Set64(have)
		w = io.MultiWriter(f, bar)
		defer bar.Finish()
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return "", false, &networkError{err}
	}
	if res.ContentLength >= 0 && n < res.ContentLength {
		return "", false, &networkError{io.ErrUnexpectedEOF}
	}
	return etag, true, f.Close()
}

// headETag is the zip's ETag, from a HEAD request.
func (c *client) headETag(ctx context.Context, r runID) (string, error) {
	res, err := c.raw.HeadDownloadExecution(ctx, r.project, r.execution)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", &apiError{Status: res.StatusCode, Code: "http_" + strconv.Itoa(res.StatusCode), Message: http.StatusText(res.StatusCode)}
	}
	return strings.Trim(strings.TrimPrefix(res.Header.Get("ETag"), "W/"), `"`), nil
}

// rangeTotal is the size in a Content-Range ("bytes */1234"), or -1.
func rangeTotal(h string) int64 {
	_, total, ok := strings.Cut(h, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// fileSHA256 is the hex SHA-256 and size of the file.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
