package timer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
)

func TestTheDefaultUnits(t *testing.T) {
	u, err := Make(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OnCalendar=*-*-* 03:00:00\n", "RandomizedDelaySec=3600\n", "FixedRandomDelay=true\n", "Persistent=true\n",
		"Unit=certrescue-renew.service\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(string(u.Timer), want) {
			t.Errorf("timer lacks %q:\n%s", want, u.Timer)
		}
	}
	for _, want := range []string{"Type=oneshot\n", "ExecStart=/usr/local/bin/certrescue renew --auto\n", "TimeoutStartSec=2700\n",
		"Environment=CERTRESCUE_OPERATOR=certrescue-timer\n"} {
		if !strings.Contains(string(u.Service), want) {
			t.Errorf("service lacks %q:\n%s", want, u.Service)
		}
	}
}

func TestArgumentsReachRenewAuto(t *testing.T) {
	u, err := Make(Options{Binary: "/opt/certrescue/bin/certrescue", Args: []string{"--before", "30d", "--restart-command", "kube-apiserver=systemctl restart kube-apiserver", "--gate", "kubelet=off"},
		Calendar: "Mon..Fri *-*-* 02:30", Delay: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := `ExecStart=/opt/certrescue/bin/certrescue renew --auto --before 30d --restart-command "kube-apiserver=systemctl restart kube-apiserver" --gate kubelet=off` + "\n"
	if !strings.Contains(string(u.Service), want) {
		t.Errorf("service:\n%s\nwant %s", u.Service, want)
	}
	if !strings.Contains(string(u.Timer), "OnCalendar=Mon..Fri *-*-* 02:30\nRandomizedDelaySec=1200\n") {
		t.Errorf("timer:\n%s", u.Timer)
	}
}

func TestBadSettingsAreRefused(t *testing.T) {
	for name, o := range map[string]Options{
		"a relative binary":              {Binary: "certrescue"},
		"a calendar of two lines":        {Calendar: "daily\nOnCalendar=hourly"},
		"an argument with a line break":  {Args: []string{"--before", "30d\n[Service]"}},
		"a lone semicolon":               {Args: []string{";", "rm"}},
		"a delay into the next day":      {Delay: 13 * time.Hour},
		"a negative delay":               {Delay: -time.Minute},
		"a timeout too short for a gate": {Timeout: time.Second},
		"an operator with a space":       {Operator: "night shift"},
		"an operator with a line break":  {Operator: "a\nExecStartPre=/bin/sh"},
	} {
		if _, err := Make(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
}

func TestInstallWritesBothUnitsUnderTheRoot(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	u, err := Make(Options{})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := Install(nodefs.New(root), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths, []string{"/etc/systemd/system/certrescue-renew.service", "/etc/systemd/system/certrescue-renew.timer"}) {
		t.Errorf("paths %v", paths)
	}
	for p, want := range map[string][]byte{paths[0]: u.Service, paths[1]: u.Timer} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v under umask 077, want 0644", p, fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(filepath.Join(root, p)); string(b) != string(want) {
			t.Errorf("%s differs", p)
		}
	}
	// Again, with other settings: replaced.
	u2, _ := Make(Options{Calendar: "*-*-* 04:00:00"})
	if _, err := Install(nodefs.New(root), u2, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, paths[1])); !strings.Contains(string(b), "04:00:00") {
		t.Error("a second install did not replace the timer")
	}
}

func TestInstallFollowsASymlinkInsideTheRootOnly(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink: under --root it names the node's /srv, never the host's.
	if err := os.Symlink(outside, filepath.Join(root, "etc/systemd/system")); err != nil {
		t.Fatal(err)
	}
	u, _ := Make(Options{})
	_, _ = Install(nodefs.New(root), u, nil)
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Install wrote outside the root: %v", entries)
	}
}

// splitExec splits an ExecStart line as systemd does for what Exec writes:
// words separated by spaces, double quotes with \ escapes, %% and $$.
func splitExec(s string) []string {
	var out []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+1 < len(s) && s[i+1] == '%', c == '$' && i+1 < len(s) && s[i+1] == '$':
			w.WriteByte(c)
			i++
			in = true
		case quoted && c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			i++
		case c == '"':
			quoted = !quoted
			in = true
		case c == ' ' && !quoted:
			if in {
				out = append(out, w.String())
			}
			w.Reset()
			in = false
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

func FuzzExec(f *testing.F) {
	f.Add("--restart-command", "kube-apiserver=systemctl restart kube-apiserver")
	f.Add(`a"b\c`, "100%$HOME")
	f.Add("", " ")
	f.Fuzz(func(t *testing.T, a, b string) {
		words := []string{"/usr/local/bin/certrescue", a, b}
		if _, err := Make(Options{Args: words[1:]}); err != nil {
			return // refused: line breaks, NUL, a lone ;
		}
		got := splitExec(Exec(words))
		if !slices.Equal(got, words) {
			t.Fatalf("Exec(%q) = %s splits back as %q", words, Exec(words), got)
		}
	})
}
