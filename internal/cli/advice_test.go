package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/revocation"
)

// The library's errors name no flags; the command layer adds the flag that
// helps, and only when the command that ran has it.
func TestAdviceNamesTheFlagsOfTheCommandThatRan(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	expired := &pki.ValidityError{Name: "old-ca", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0), Now: now}
	early := &pki.ValidityError{Name: "new-ca", NotBefore: now.AddDate(0, 0, 1), NotAfter: now.AddDate(1, 0, 0), Now: now}
	gates := fmt.Errorf("%w; nothing was changed", errors.Join(
		&rescue.GateError{Gate: "etcd certificate", Component: "etcd", Err: errors.New("permission denied")},
		&rescue.GateError{Gate: "kube-apiserver certificate", Component: "kube-apiserver", Err: errors.New("no such file")}))
	tests := []struct {
		name    string
		command []string
		err     error
		want    []string
		notWant []string
	}{
		{"an expired CA in gencert: ca renew or --allow-expired-ca", []string{"gencert"}, fmt.Errorf("CA ca.pem: %w", expired),
			[]string{"Renew the CA on its own key", "certrescue ca renew all", "or pass --allow-expired-ca to sign anyway"}, nil},
		{"a CA not yet valid in revoke: --allow-expired-ca", []string{"revoke"}, fmt.Errorf("CA ca.pem: %w", early), []string{"check this machine's clock, or pass --allow-expired-ca"}, []string{"Rotate"}},
		{"an expired CA in renew, which has no --allow-expired-ca", []string{"renew"}, fmt.Errorf("apiserver is signed by ca: %w", expired),
			[]string{"certrescue ca renew all, or certrescue rescue, which renews an expired CA first"}, []string{"--allow-expired-ca", "Rotate"}},
		{"a mismatched key in renew: --rotate-keys", []string{"renew"}, &renewal.KeyError{Name: "front-proxy-client", CertPath: "/x.crt"},
			[]string{"; pass --rotate-keys to issue a new key"}, nil},
		{"an unreadable key in renew: --rotate-keys", []string{"renew"}, &renewal.KeyError{Name: "apiserver", Err: errors.New("key /x.key: bad PEM")},
			[]string{"; pass --rotate-keys to replace the key"}, nil},
		{"too much to back up: narrow --path", []string{"backup"}, fmt.Errorf("back up: %w", backup.ErrTooLarge), []string{"narrow --path"}, nil},
		{"a full disk: another --backup-dir", []string{"backup"}, fmt.Errorf("back up to /b: %w (%w)", backup.ErrDiskFull, syscall.ENOSPC),
			[]string{"or choose another --backup-dir"}, nil},
		{"another CA's revocation list: --revocations", []string{"revoke"}, fmt.Errorf("revocations x.json: %w", revocation.ErrOtherCA),
			[]string{"pass --revocations for this CA's file"}, nil},
		{"a root that cannot be opened: --root", []string{"check"}, fmt.Errorf("%w /mnt: no such file", nodefs.ErrRoot), []string{"check --root"}, nil},
		{"each gate that cannot read its credentials: --gate", []string{"rescue"}, gates,
			[]string{"--gate etcd=URL or --gate etcd=off", "--gate kube-apiserver=URL or --gate kube-apiserver=off"}, nil},
		{"components without a gate: --gate NAME=URL", []string{"rescue"}, fmt.Errorf("%w: etcd had no health gate", rescue.ErrUnverified),
			[]string{"--gate NAME=URL"}, nil},
		{"an error nothing maps gets no advice", []string{"renew"}, errors.New("boom"), nil, []string{"--"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{Stdout: io.Discard, Stderr: io.Discard}
			root := NewRootCommand(env)
			cmd, _, err := root.Find(tt.command)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.err.Error() + advice(env, cmd, tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("advice = %q, want %q", got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("advice = %q, want no %q", got, w)
				}
			}
		})
	}
}
