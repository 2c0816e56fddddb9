package mcpguard_test

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzTarget is one fuzz function and the package directory holding it.
type fuzzTarget struct {
	dir, name string
}

var fuzzFuncRE = regexp.MustCompile(`^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// findFuzzTargets lists every fuzz function of this module, so that a new
// target is fuzzed in CI without anyone remembering to register it. Nested
// modules (directories with their own go.mod) and testdata are skipped.
func findFuzzTargets(t *testing.T) []fuzzTarget {
	t.Helper()
	var targets []fuzzTarget
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := fuzzFuncRE.FindStringSubmatch(sc.Text()); m != nil {
				targets = append(targets, fuzzTarget{dir: "./" + filepath.ToSlash(filepath.Dir(path)), name: m[1]})
			}
		}
		return sc.Err()
	})
	require.NoError(t, err)
	return targets
}

// TestFuzzTargetsBriefly runs every fuzz target of the module with the
// coverage-guided fuzzer (MCPGUARD_FUZZTIME, default 4000 executions each
// beyond the corpus; a duration such as 10m makes a longer campaign). Seed
// corpora and kept crashers already run as plain tests; this step looks for
// new inputs, so a regression a seed does not reach still fails CI. A
// failure leaves the crashing input under the target's testdata/fuzz, where
// it becomes a seed. Skipped with -short.
//
// The default is a count, not a duration: with a duration, Go 1.26's fuzz
// coordinator can report "context deadline exceeded" as a failure when the
// deadline races a busy worker (go.dev/issue/75804, fixed in Go 1.27). Such
// a report without a written input is logged, not failed.
func TestFuzzTargetsBriefly(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing skipped with -short")
	}
	switch runtime.GOOS + "/" + runtime.GOARCH {
	case "linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64":
	default:
		t.Skipf("coverage-guided fuzzing is not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	fuzztime := os.Getenv("MCPGUARD_FUZZTIME")
	if fuzztime == "" {
		fuzztime = "4000x"
	}
	budget := 2 * time.Minute
	if n, ok := strings.CutSuffix(fuzztime, "x"); ok {
		_, err := strconv.ParseUint(n, 10, 32)
		require.NoError(t, err, "MCPGUARD_FUZZTIME must be a duration or a count such as 4000x")
	} else {
		d, err := time.ParseDuration(fuzztime)
		require.NoError(t, err, "MCPGUARD_FUZZTIME must be a duration or a count such as 4000x")
		budget = d
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "go test puts the go command on PATH")

	targets := findFuzzTargets(t)
	require.GreaterOrEqual(t, len(targets), 8, "fuzz targets went missing: %v", targets)
	for _, ft := range targets {
		t.Run(ft.name, func(t *testing.T) {
			// One worker: CI runs other packages' tests beside this one. A
			// hung fuzzer is stopped with its output rather than left to
			// the whole run's timeout.
			limit := budget + 3*time.Minute
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			cmd := exec.CommandContext(ctx, goTool, "test", "-run=^$", "-fuzz=^"+ft.name+"$", "-fuzztime="+fuzztime,
				"-parallel=1", "-timeout="+limit.String(), ft.dir)
			cmd.Env = append(os.Environ(), "GOFLAGS=")
			cmd.WaitDelay = 10 * time.Second
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil && coordinatorDeadlineRace(string(out)) {
				t.Logf("%s: the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input:\n%s", ft.name, out)
				return
			}
			require.NoError(t, err, "fuzzing %s in %s:\n%s", ft.name, ft.dir, out)
			t.Logf("%s: %s", ft.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// deadlineRaceRE is the whole failure report of the toolchain's race: the
// target's FAIL line followed directly by the bare context error.
var deadlineRaceRE = regexp.MustCompile(`--- FAIL: Fuzz\w+ \([0-9.]+s\)\n\s+context deadline exceeded\n`)

// coordinatorDeadlineRace reports whether a failed fuzzing run's output is
// only the toolchain's deadline race, with no failing input written.
func coordinatorDeadlineRace(out string) bool {
	return deadlineRaceRE.MatchString(out) && !strings.Contains(out, "Failing input written") && !strings.Contains(out, "panic:")
}

func TestCoordinatorDeadlineRace(t *testing.T) {
	race := "fuzz: elapsed: 4s, execs: 18656 (0/sec), new interesting: 1 (total: 120)\n" +
		"--- FAIL: FuzzVerify (4.03s)\n    context deadline exceeded\nFAIL\nexit status 1\n"
	require.True(t, coordinatorDeadlineRace(race))
	found := "--- FAIL: FuzzVerify (0.12s)\n    --- FAIL: FuzzVerify (0.00s)\n        jwtx_test.go:55: only the genuinely signed token verifies\n" +
		"    Failing input written to testdata/fuzz/FuzzVerify/abc\n    To re-run:\n    go test -run=FuzzVerify/abc\nFAIL\n"
	require.False(t, coordinatorDeadlineRace(found))
	require.False(t, coordinatorDeadlineRace("--- FAIL: FuzzScan (1.00s)\n    context deadline exceeded\npanic: boom\n"))
	require.False(t, coordinatorDeadlineRace("--- FAIL: FuzzScan (1.00s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\n"))
}
