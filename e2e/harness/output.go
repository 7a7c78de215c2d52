package harness

import (
	"bytes"
	"sync"
)

// tailBuffer keeps a child's output in memory for failure messages and
// parsing, safe for the child's writes and our reads. It holds at most
// tailMax bytes: a chatty child over minutes must not grow the harness's
// own memory without limit.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const (
	tailMax  = 1 << 20
	tailKeep = 1 << 19 // what stays when tailMax is passed
)

func (s *tailBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > tailMax {
		rest := s.b.Bytes()[s.b.Len()-tailKeep:]
		s.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return s.b.Write(p)
}

// String is what the buffer holds.
func (s *tailBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
