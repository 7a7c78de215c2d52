package harness

import (
	"fmt"
	"strings"

	"github.com/prometheus/procfs"
)

// Child is a process that Leftovers found.
type Child struct {
	Pid     int
	Command string
}

func (c Child) String() string { return fmt.Sprintf("pid %d (%s)", c.Pid, c.Command) }

// Leftovers lists the processes that are children of parent or members of
// one of the process groups (Start makes each child lead its own group, so
// a grandchild it left behind keeps the group id even when re-parented).
func Leftovers(parent int, groups []int) ([]Child, error) {
	all, err := procfs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("harness: list processes: %w", err)
	}
	inGroup := make(map[int]bool, len(groups))
	for _, g := range groups {
		inGroup[g] = true
	}
	var left []Child
	for _, p := range all {
		stat, err := p.Stat()
		if err != nil {
			continue // exited while we looked
		}
		if stat.PPID != parent && !inGroup[stat.PGRP] {
			continue
		}
		cmdline, _ := p.CmdLine()
		command := strings.Join(cmdline, " ")
		if command == "" {
			command = stat.Comm
		}
		left = append(left, Child{Pid: p.PID, Command: fmt.Sprintf("%s, state %s", command, stat.State)})
	}
	return left, nil
}
