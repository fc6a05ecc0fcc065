package testenv

import (
	"os"
	"strconv"
	"strings"
)

// PeakRSSMiB is this process's peak resident set size in MiB (VmHWM of
// /proc/self/status, counted from its exec: a child's ru_maxrss also
// counts the pages it shared with its parent before it), or -1 where
// /proc has no such line. The whole-process benchmarks report it.
func PeakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}
