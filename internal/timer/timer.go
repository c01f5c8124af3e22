package timer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// Names and defaults of the units.
const (
	Name        = "certrescue-renew"
	ServiceName = Name + ".service"
	TimerName   = Name + ".timer"
	UnitDir     = "/etc/systemd/system"

	DefaultBinary   = "/usr/local/bin/certrescue"
	DefaultCalendar = "*-*-* 03:00:00"
	DefaultDelay    = time.Hour
	// DefaultTimeout bounds one run: the Lease's 30 minutes and some.
	DefaultTimeout = 45 * time.Minute
)

// Options shape the units.
type Options struct {
	Binary   string        // absolute path of certrescue on the node
	Calendar string        // the timer's OnCalendar
	Delay    time.Duration // RandomizedDelaySec
	Timeout  time.Duration // the service's TimeoutStartSec
	// Args follow "renew --auto" on the service's command line.
	Args []string
	// Operator is CERTRESCUE_OPERATOR for the audit log.
	Operator string
}

var operatorName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ErrOptions is wrapped by every Options error.
var ErrOptions = errors.New("invalid timer setting")

func (o *Options) defaults() error {
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.Calendar == "" {
		o.Calendar = DefaultCalendar
	}
	if o.Delay == 0 {
		o.Delay = DefaultDelay
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Operator == "" {
		o.Operator = "certrescue-timer"
	}
	switch {
	case !strings.HasPrefix(o.Binary, "/"):
		return fmt.Errorf("%w: binary %q: systemd needs an absolute path", ErrOptions, o.Binary)
	case strings.ContainsAny(o.Calendar, "\n\r\x00") || len(o.Calendar) > 256:
		return fmt.Errorf("%w: calendar %q: one line, at most 256 characters", ErrOptions, o.Calendar)
	case o.Delay < 0 || o.Delay > 12*time.Hour:
		return fmt.Errorf("%w: randomized delay %s: between 0 and 12h (a daily timer must not slip into the next day)", ErrOptions, o.Delay)
	case o.Timeout < time.Minute:
		return fmt.Errorf("%w: timeout %s: at least a minute", ErrOptions, o.Timeout)
	}
	if !operatorName.MatchString(o.Operator) {
		return fmt.Errorf("%w: operator %q: letters, digits and . _ @ - only", ErrOptions, o.Operator)
	}
	for _, a := range append([]string{o.Binary}, o.Args...) {
		if strings.ContainsAny(a, "\n\r\x00") || a == ";" {
			return fmt.Errorf("%w: %q: a command-line argument cannot hold a line break or NUL, nor be a lone ;", ErrOptions, a)
		}
	}
	return nil
}

// Units are the service's and the timer's bytes.
type Units struct {
	Service, Timer []byte
}

// Make renders the units.
func Make(o Options) (Units, error) {
	if err := o.defaults(); err != nil {
		return Units{}, err
	}
	cmd := Exec(append([]string{o.Binary, "renew", "--auto"}, o.Args...))
	service := fmt.Sprintf(`# Written by certrescue timer install. Runs the scheduled renewal: only the
# certificates that are due (renew --auto --before, a share of each one's own
# lifetime, never the timer's schedule) are renewed, then restarted in order
# behind health gates (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet), rolled back when a gate fails. Nothing due: exit 0,
# nothing touched. A Lease keeps two control-plane nodes from renewing at once.
[Unit]
Description=certrescue: renew the node's certificates that are due
After=network-online.target containerd.service kubelet.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=%s
Environment=CERTRESCUE_OPERATOR=%s
TimeoutStartSec=%d
NoNewPrivileges=yes
PrivateTmp=yes
`, cmd, o.Operator, int64(o.Timeout/time.Second))
	timer := fmt.Sprintf(`# Written by certrescue timer install. Daily: renew --auto decides from each
# certificate what is due, so running often costs a check and nothing else.
[Unit]
Description=certrescue: daily renewal of the certificates that are due

[Timer]
OnCalendar=%s
RandomizedDelaySec=%d
FixedRandomDelay=true
Persistent=true
AccuracySec=1min
Unit=%s

[Install]
WantedBy=timers.target
`, o.Calendar, int64(o.Delay/time.Second), ServiceName)
	return Units{Service: []byte(service), Timer: []byte(timer)}, nil
}

// Install writes the units under UnitDir through fsys, atomically (both or
// neither), journaled with txn when it is not nil.
func Install(fsys *nodefs.FS, u Units, txn *nodefs.Txn) ([]string, error) {
	if err := fsys.MkdirAll(UnitDir, 0o755); err != nil {
		return nil, err
	}
	paths := []string{UnitDir + "/" + ServiceName, UnitDir + "/" + TimerName}
	err := fsys.WriteSet([]nodefs.Put{
		{Path: paths[0], Data: u.Service, Mode: 0o644},
		{Path: paths[1], Data: u.Timer, Mode: 0o644},
	}, nodefs.WriteOptions{Force: true, Txn: txn})
	if err != nil {
		return nil, err
	}
	return paths, nil
}

// Exec quotes a command line for ExecStart: each word that needs it in
// double quotes with \ and " escaped, and systemd's specifiers (%) and
// variables ($) doubled so they reach the program as typed.
func Exec(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		w = escapeSpecifiers(w)
		w = strings.ReplaceAll(w, "$", "$$")
		if w != "" && !strings.ContainsAny(w, " \t\"'\\;") {
			out[i] = w
			continue
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
		out[i] = `"` + r.Replace(w) + `"`
	}
	return strings.Join(out, " ")
}

func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }
