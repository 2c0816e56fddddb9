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
// coverage-guided fuzzer for a few seconds each (MCPGUARD_FUZZTIME, default
// 3s; a value such as 10m makes a longer campaign). Seed corpora and kept
// crashers already run as plain tests; this step looks for new inputs, so a
// regression a seed does not reach still fails CI. A failure leaves the
// crashing input under the target's testdata/fuzz, where it becomes a seed.
// Skipped with -short.
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
		fuzztime = "3s"
	}
	budget, err := time.ParseDuration(fuzztime)
	require.NoError(t, err, "MCPGUARD_FUZZTIME must be a duration")
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
			require.NoError(t, err, "fuzzing %s in %s:\n%s", ft.name, ft.dir, out)
			t.Logf("%s: %s", ft.name, time.Since(start).Round(time.Millisecond))
		})
	}
}
