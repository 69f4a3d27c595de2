package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startTimeout bounds how long a process may take to say where it listens.
const startTimeout = 60 * time.Second

// proc is a server process the harness started. Its stderr is scanned for the
// line that says where it listens, then drained (a full pipe would stall it).
type proc struct {
	name   string
	cmd    *exec.Cmd
	addr   string        // host:port it listens on
	exited chan struct{} // closed after Wait
	tail   *lineRing     // its last stderr lines, for errors
}

// startProc starts argv and waits until findAddr recognises a stderr line.
// env nil means the harness's environment.
func startProc(name string, argv, env []string, findAddr func(line string) (string, bool)) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = dieWithHarness()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{}), tail: &lineRing{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.tail.add(line)
			if !found {
				if addr, ok := findAddr(line); ok {
					found = true
					addrc <- addr
				}
			}
		}
		cmd.Wait() // after the last read from the pipe, as os/exec requires
		close(p.exited)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case p.addr = <-addrc:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before listening (%v): %s", name, cmd.ProcessState, p.tail)
	case <-timer.C:
		p.stop()
		return nil, fmt.Errorf("%s did not listen within %s: %s", name, startTimeout, p.tail)
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// url is its streamable HTTP endpoint.
func (p *proc) url() string { return "http://" + p.addr + "/mcp" }

// stop asks the process to stop, and kills it if it is still there after 10s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	askToStop(p.cmd.Process)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// gatewayAddr finds the gateway's "serving MCP over streamable HTTP" JSON log
// line (--log-format json, level info) and returns its addr.
func gatewayAddr(line string) (string, bool) {
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "serving MCP over streamable HTTP" || rec.Addr == "" {
		return "", false
	}
	return rec.Addr, true
}

// listeningAddr finds the "listening on http://HOST:PORT" line of the echo
// upstream and of the floor.
func listeningAddr(line string) (string, bool) {
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on http://")
	return addr, ok && addr != ""
}

// lineRing keeps the last few lines of a process's stderr.
type lineRing struct {
	mu    sync.Mutex
	lines [8]string
	n     int
}

func (r *lineRing) add(s string) {
	r.mu.Lock()
	r.lines[r.n%len(r.lines)] = s
	r.n++
	r.mu.Unlock()
}

func (r *lineRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i := max(0, r.n-len(r.lines)); i < r.n; i++ {
		out = append(out, r.lines[i%len(r.lines)])
	}
	if len(out) == 0 {
		return "(no stderr)"
	}
	return strings.Join(out, " | ")
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture the gateway runs on.
const clockTicks = 100

// cpuTime returns the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+2:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rss returns a process's resident set size (VmRSS) in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc status VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
