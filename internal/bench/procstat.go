package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. Linux fixes it at
// 100 on every architecture Go runs on; asking sysconf(_SC_CLK_TCK) would
// need cgo for the same answer.
const userHZ = 100

// serverCPU reads the CPU time server processes have used, from /proc:
// one registry, or every replica of one behind a round-robin.
type serverCPU struct {
	pids []int
}

// ticks returns the user plus system CPU time the processes have used so
// far, summed, in units of 1/userHZ seconds.
func (s serverCPU) ticks() (uint64, error) {
	var sum uint64
	for _, pid := range s.pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("server cpu: %w", err)
		}
		utime, stime, err := parseProcStat(b)
		if err != nil {
			return 0, fmt.Errorf("server cpu: /proc/%d/stat: %w", pid, err)
		}
		sum += utime + stime
	}
	return sum, nil
}

// parseProcStat returns the utime and stime fields (14 and 15) of a
// /proc/PID/stat line, in clock ticks. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(b []byte) (utime, stime uint64, err error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("no ')' closing the command name")
	}
	fields := bytes.Fields(b[end+1:])
	// fields[0] is field 3 (state), so field n is fields[n-3].
	const utimeField, stimeField = 14 - 3, 15 - 3
	if len(fields) <= stimeField {
		return 0, 0, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), stimeField+1)
	}
	if utime, err = strconv.ParseUint(string(fields[utimeField]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(string(fields[stimeField]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}
