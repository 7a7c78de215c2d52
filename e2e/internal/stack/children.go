package stack

import (
	"fmt"
	"strings"

	"github.com/prometheus/procfs"
)

// Child is a process whose parent is the process asked about.
type Child struct {
	Pid     int
	Command string
}

func (c Child) String() string { return fmt.Sprintf("pid %d (%s)", c.Pid, c.Command) }

// Children lists the live child processes of pid from /proc. Zombies
// count: a child that exited but was never waited for is a leak too.
func Children(pid int) ([]Child, error) {
	all, err := procfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("stack: list processes: %w", err)
	}
	var children []Child
	for _, p := range all {
		stat, err := p.Stat()
		if err != nil {
			continue // exited while we looked
		}
		if stat.PPID != pid {
			continue
		}
		cmdline, _ := p.CmdLine()
		command := strings.Join(cmdline, " ")
		if command == "" {
			command = stat.Comm
		}
		children = append(children, Child{Pid: p.PID, Command: command})
	}
	return children, nil
}
