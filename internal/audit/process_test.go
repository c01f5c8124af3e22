package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/audit/audittest"
	"github.com/certrescue/certrescue/internal/facts"
)

// The tests below need real processes (SQLite's locks and the servers' sessions
// are per process), so the test binary re-executes itself as an appender when
// CERTRESCUE_AUDIT_HELPER is set.

const helperEnv = "CERTRESCUE_AUDIT_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case readOnlyHelper:
		os.Exit(readOnlyHelperMain())
	case cycleHelper:
		os.Exit(cycleHelperMain())
	default:
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain appends CERTRESCUE_AUDIT_HELPER_N events (forever when 0) to the
// store at CERTRESCUE_AUDIT_HELPER_DSN, printing "ok SEQ" after each durable
// append.
func helperMain() int {
	dsn := os.Getenv(helperEnv + "_DSN")
	name := os.Getenv(helperEnv + "_NAME")
	n, _ := strconv.Atoi(os.Getenv(helperEnv + "_N"))
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	out := bufio.NewWriter(os.Stdout)
	for i := 1; n == 0 || i <= n; i++ {
		ev := Event{Time: t0, Action: facts.ActionRenew, CertName: name, Detail: fmt.Sprintf("%s/%d", name, i),
			Operator: name, Host: "node", Command: "helper"}
		e, err := s.Append(ctx, ev)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(out, "ok %d\n", e.Seq)
		out.Flush()
	}
	return 0
}

// cycleHelper opens the store, probes it, appends one event and closes it,
// CERTRESCUE_AUDIT_HELPER_N times: what each command of a shell pipeline
// (certrescue gencert | certrescue cfssljson) does, so that one process closes
// the log (SQLite checkpoints and removes its WAL) while another opens it.
const cycleHelper = "cycle"

func cycleHelperMain() int {
	dsn := os.Getenv(helperEnv + "_DSN")
	name := os.Getenv(helperEnv + "_NAME")
	n, _ := strconv.Atoi(os.Getenv(helperEnv + "_N"))
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		s, err := Open(ctx, dsn)
		if err == nil {
			err = s.Probe(ctx)
		}
		if err == nil {
			_, err = s.Append(ctx, Event{Time: t0, Action: facts.ActionRenew, CertName: name,
				Detail: fmt.Sprintf("%s/%d", name, i), Operator: name, Host: "node", Command: "helper"})
		}
		if s != nil {
			if cerr := s.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func helperCmd(t *testing.T, dsn, name string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperEnv+"_DSN="+dsn, helperEnv+"_NAME="+name, helperEnv+"_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	return cmd
}

func TestEightProcessesAppendAtOnce(t *testing.T) {
	const procs, each = 8, 40
	forEachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn) // schema exists before the race; the race on creating it is another test
		var wg sync.WaitGroup
		errs := make([]error, procs)
		for p := 0; p < procs; p++ {
			cmd := helperCmd(t, dsn, fmt.Sprintf("p%d", p), each)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[p] = cmd.Run()
			}()
		}
		wg.Wait()
		for p, err := range errs {
			if err != nil {
				t.Errorf("appender p%d: %v", p, err)
			}
		}
		ctx := context.Background()
		rep, err := s.Verify(ctx, nil)
		if err != nil || rep.Problem != nil {
			t.Fatalf("verify: %v %v", err, rep.Problem)
		}
		if rep.Events != procs*each {
			t.Errorf("%d events, want %d", rep.Events, procs*each)
		}
		seen := map[string]int{}
		if err := s.Events(ctx, Filter{}, func(e Event) error { seen[e.Detail]++; return nil }); err != nil {
			t.Fatal(err)
		}
		for p := 0; p < procs; p++ {
			for i := 1; i <= each; i++ {
				if k := fmt.Sprintf("p%d/%d", p, i); seen[k] != 1 {
					t.Errorf("event %s stored %d times", k, seen[k])
				}
			}
		}
	})
}

func TestEightProcessesCreateTheSchemaAtOnce(t *testing.T) {
	const procs = 8
	forEachBackend(t, func(t *testing.T, dsn string) {
		var wg sync.WaitGroup
		errs := make([]error, procs)
		for p := 0; p < procs; p++ {
			cmd := helperCmd(t, dsn, fmt.Sprintf("p%d", p), 1)
			wg.Add(1)
			go func() { defer wg.Done(); errs[p] = cmd.Run() }()
		}
		wg.Wait()
		for p, err := range errs {
			if err != nil {
				t.Errorf("appender p%d: %v", p, err)
			}
		}
		s := mustOpen(t, dsn)
		if rep, err := s.Verify(context.Background(), nil); err != nil || rep.Problem != nil || rep.Events != procs {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// The commands of a pipeline open and close the same new log at once; neither
// may fail for the other's lock. SQLite's switch to WAL mode once answered
// "database is locked" in CI (about one new log in 500 here), so the race is run
// on many new logs.
func TestProcessesOpenAndCloseANewLogAtOnce(t *testing.T) {
	const procs, each = 2, 2
	eachBackend(t, func(t *testing.T, backend string) {
		rounds := 3
		if backend == audittest.Backends[0] && !testing.Short() {
			rounds = 50
		}
		for r := 0; r < rounds; r++ {
			dsn := freshDSN(t, backend)
			var wg sync.WaitGroup
			errs := make([]error, procs)
			for p := 0; p < procs; p++ {
				cmd := helperCmd(t, dsn, fmt.Sprintf("p%d", p), each)
				cmd.Env = append(cmd.Env, helperEnv+"="+cycleHelper)
				wg.Add(1)
				go func() { defer wg.Done(); errs[p] = cmd.Run() }()
			}
			wg.Wait()
			for p, err := range errs {
				if err != nil {
					t.Fatalf("round %d: process p%d: %v", r, p, err)
				}
			}
			s := mustOpen(t, dsn)
			if rep, err := s.Verify(context.Background(), nil); err != nil || rep.Problem != nil || rep.Events != procs*each {
				t.Fatalf("round %d: verify: %+v %v", r, rep, err)
			}
			s.Close()
		}
	})
}

func TestSIGKILLDuringAppend(t *testing.T) {
	const kills = 5
	forEachBackend(t, func(t *testing.T, dsn string) {
		mustOpen(t, dsn)
		acked := int64(0)
		for k := 0; k < kills; k++ {
			cmd := helperCmd(t, dsn, fmt.Sprintf("k%d", k), 0)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			// Let it append a varying number of events, then kill it while it is
			// in the middle of the next ones.
			sc := bufio.NewScanner(stdout)
			for i := 0; i < 5+7*k && sc.Scan(); i++ {
				seq, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "ok "), 10, 64)
				if err != nil {
					t.Fatalf("helper said %q", sc.Text())
				}
				acked = seq
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			s := mustOpen(t, dsn)
			rep, err := s.Verify(context.Background(), nil)
			if err != nil || rep.Problem != nil {
				t.Fatalf("after kill %d: %v %v", k+1, err, rep.Problem)
			}
			if rep.Events < acked {
				t.Fatalf("after kill %d: %d events, but event %d was acknowledged as durable", k+1, rep.Events, acked)
			}
			s.Close()
		}
	})
}
