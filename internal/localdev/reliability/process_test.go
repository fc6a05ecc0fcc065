package reliability

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/localdev/emulator"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func emulatorFreePort() (int, error) { return emulator.FreePort() }

// startRIE starts the export binary under the Lambda Runtime Interface
// Emulator on 127.0.0.1, attached to this process, with env added to the
// environment it hands the function.
func startRIE(bin string, runtimePort int, env []string) (*testenv.Server, error) {
	return emulator.StartWith(emulator.RIE(bin, runtimePort), emulator.Options{Env: env})
}

// killRIE kills, with SIGKILL, the function processes that the emulator
// rie started (the emulator puts its runtime in a process group of its
// own) and then the emulator's process group: the whole sandbox dies at
// once, as when Lambda's host loses it. It returns the function's PIDs.
func killRIE(rie *testenv.Server, bin string) ([]int, error) {
	pgid := rie.PID()
	if pgid <= 1 {
		return nil, errors.New("no emulator process to kill")
	}
	fns := descendants(pgid, bin)
	for _, pid := range fns {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fns, err
		}
	}
	return fns, syscall.Kill(-pgid, syscall.SIGKILL)
}

// descendants lists the live processes below pid whose executable is bin.
func descendants(pid int, bin string) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); err == nil && exe == bin {
					out = append(out, p)
				}
				break
			}
		}
	}
	return out
}

// noSurvivors fails the test if a process still runs bin (the export
// function of a killed emulator) and kills it, by PID.
func (s *suite) noSurvivors(t *testing.T, bin string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := running(bin)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("the export function outlived its emulator's process group: pids %v (killed now)", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running lists the live processes whose executable is bin.
func running(bin string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		exe, err := os.Readlink(filepath.Join(d, "exe"))
		if err != nil || exe != bin {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil && emulator.Running(pid, filepath.Base(bin)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
