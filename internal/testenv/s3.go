package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Seaweed is a real S3 server for tests: SeaweedFS's master, volume and
// filer in one `weed server` process, and its S3 gateway in a `weed s3`
// process of its own, so a test can take the object store down
// (StopS3) and bring it back (StartS3) while the data stays.
// scripts/services.sh builds the weed binary into $(go env GOPATH)/bin.
type Seaweed struct {
	// Endpoint is the S3 gateway's URL, http://127.0.0.1:<port>.
	Endpoint        string
	AccessKeyID     string
	SecretAccessKey string

	bin, dir, filer string
	s3Port, s3GRPC  int
	mu              sync.Mutex
	server, s3      *exec.Cmd
}

// WeedBinary finds weed: $Q2O_TEST_WEED, weed on PATH, then GOPATH/bin.
func WeedBinary() (string, error) {
	if v := os.Getenv("Q2O_TEST_WEED"); v != "" {
		return v, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(filepath.SplitList(gopath)[0], "bin", "weed")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("testenv: no weed binary (SeaweedFS, the tests' S3 server): run scripts/services.sh, or set Q2O_TEST_WEED")
	}
	return p, nil
}

// StartSeaweed starts SeaweedFS with its data in a new temporary folder, on
// free ports of 127.0.0.1, and returns once its S3 gateway answers. Call
// it once per test package (TestMain) and Close it after m.Run.
func StartSeaweed() (*Seaweed, error) {
	bin, err := WeedBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "q2o-seaweed-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	w := &Seaweed{AccessKeyID: "q2otest", SecretAccessKey: "q2otest-secret-key",
		bin: bin, dir: dir, s3Port: ports[6], s3GRPC: ports[7],
		filer: fmt.Sprintf("127.0.0.1:%d.%d", ports[4], ports[5])}
	w.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", w.s3Port)
	conf := fmt.Sprintf(`{"identities":[{"name":"q2o","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`,
		w.AccessKeyID, w.SecretAccessKey)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	w.server, err = w.start("server.log", "server", "-dir", data, "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
		"-master.port", strconv.Itoa(ports[0]), "-master.port.grpc", strconv.Itoa(ports[1]),
		"-volume.port", strconv.Itoa(ports[2]), "-volume.port.grpc", strconv.Itoa(ports[3]),
		"-filer", "-filer.port", strconv.Itoa(ports[4]), "-filer.port.grpc", strconv.Itoa(ports[5]),
		"-master.volumeSizeLimitMB", "128", "-volume.max", "200")
	if err != nil {
		w.Close()
		return nil, err
	}
	// The master hands out file ids only once a volume server has joined:
	// before that, the gateway answers writes with InternalError.
	master := fmt.Sprintf("http://127.0.0.1:%d/dir/assign", ports[0])
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(master); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"fid"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			w.Close()
			return nil, fmt.Errorf("testenv: SeaweedFS's master assigned no file id within 60 s (logs in %s)", dir)
		}
	}
	if err := w.StartS3(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Seaweed) start(logName string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(w.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = w.dir, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("testenv: start weed %s: %w", args[0], err)
	}
	go func() { _ = cmd.Wait(); log.Close() }()
	return cmd, nil
}

// StartS3 starts the S3 gateway (again) on its port and waits until it
// answers; the filer behind it, and so the data, were never stopped.
func (w *Seaweed) StartS3() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.s3 != nil {
		return nil
	}
	cmd, err := w.start("s3.log", "s3", "-filer", w.filer, "-ip.bind", "127.0.0.1",
		"-port", strconv.Itoa(w.s3Port), "-port.grpc", strconv.Itoa(w.s3GRPC),
		"-port.iceberg", "0", "-port.lance", "0", "-config", filepath.Join(w.dir, "s3.json"))
	if err != nil {
		return err
	}
	w.s3 = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// Without credentials a live gateway answers 403; 5xx while the
		// filer is still coming up.
		if resp, err := http.Get(w.Endpoint + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		if syscall.Kill(cmd.Process.Pid, 0) != nil { // it exited
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("testenv: the S3 gateway of SeaweedFS did not answer on %s (logs in %s)", w.Endpoint, w.dir)
}

// StopS3 stops the S3 gateway: the object store is down until StartS3.
func (w *Seaweed) StopS3() {
	w.mu.Lock()
	defer w.mu.Unlock()
	stop(w.s3)
	w.s3 = nil
}

// Close stops every weed process and removes the data.
func (w *Seaweed) Close() {
	w.StopS3()
	stop(w.server)
	w.server = nil
	_ = os.RemoveAll(w.dir)
}

// stop ends the process group cmd leads, with SIGKILL after 5 s.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 50; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
