package launch

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/time/rate"
)

// maxStderrLine caps one logged line of an upstream's stderr; the rest of the
// line is discarded.
const maxStderrLine = 4 << 10

// Stderr logging limits: a child that floods stderr is logged at this rate
// and the rest counted, so it can neither fill the gateway's log nor block on
// a full pipe (the pipe is always drained).
const (
	stderrLinesPerSecond = 50
	stderrBurst          = 200
)

// stderrLog drains a child's stderr, logging lines at a bounded rate and
// keeping the last one for error reports.
type stderrLog struct {
	logger *slog.Logger
	lim    *rate.Limiter

	mu       sync.Mutex
	lastLine string
	dropped  int
}

// run logs each line the child writes to stderr. Stderr is not an error
// signal (the MCP spec says so), so lines are logged at info.
func (s *stderrLog) run(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 {
			s.line(string(line))
		}
		for isPrefix && err == nil { // discard the rest of an over-long line
			_, isPrefix, err = br.ReadLine()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.logger.Debug("upstream stderr closed", "err", err)
			}
			return
		}
	}
}

func (s *stderrLog) line(line string) {
	s.mu.Lock()
	s.lastLine = line
	allowed := s.lim.Allow()
	dropped := s.dropped
	if allowed {
		s.dropped = 0
	} else {
		s.dropped++
	}
	s.mu.Unlock()
	if !allowed {
		return
	}
	if dropped > 0 {
		s.logger.Warn("upstream stderr lines not logged (rate limit)", "lines", dropped)
	}
	s.logger.Info("upstream stderr", "line", line)
}

func (s *stderrLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastLine
}
