package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a running `leadsync run`, its log lines streamed to a channel
// so tests wait on events, never on the clock.
type daemon struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan map[string]any
	done  chan struct{}
	mu    gosync.Mutex
	all   []string
	err   error
}

// startDaemon starts `leadsync run` with JSON logs at info level (plus
// extra environment) and waits until it says it is running.
func (e *e2e) startDaemon(extraEnv ...string) *daemon {
	e.t.Helper()
	d := e.spawnDaemon(extraEnv...)
	d.waitFor("leadsync running", 60*time.Second)
	return d
}

func (e *e2e) spawnDaemon(extraEnv ...string) *daemon {
	e.t.Helper()
	cmd := exec.Command(binary, "run", "--config", e.cfg)
	cmd.Env = append(os.Environ(), append([]string{"LEADSYNC_LOG_LEVEL=info", "LEADSYNC_LOG_FORMAT=json"}, extraEnv...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	d := &daemon{t: e.t, cmd: cmd, lines: make(chan map[string]any, 4096), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.all = append(d.all, line)
			d.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				select {
				case d.lines <- m:
				default: // nobody is waiting on old lines
				}
			}
		}
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d
}

// waitFor returns the first log line whose message contains msg.
func (d *daemon) waitFor(msg string, timeout time.Duration) map[string]any {
	d.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-d.lines:
			if s, _ := m["msg"].(string); strings.Contains(s, msg) {
				return m
			}
		case <-d.done:
			d.t.Fatalf("daemon exited (%v) before logging %q:\n%s", d.err, msg, d.log())
		case <-deadline.C:
			d.t.Fatalf("no %q log line within %v:\n%s", msg, timeout, d.log())
		}
	}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.all, "\n")
}

// terminate sends SIGTERM and returns the exit error and how long the exit took.
func (d *daemon) terminate(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return time.Since(start), d.err
	case <-time.After(timeout):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("daemon ignored SIGTERM for %v", timeout)
		return 0, nil
	}
}

func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

func (d *daemon) stop() {
	select {
	case <-d.done:
	default:
		d.kill()
	}
}
