package layout

import "testing"

func TestSigningCopyIsBesideTheCAFileAndGoesBack(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/kubernetes/pki/ca.crt": "/etc/kubernetes/pki/ca-signing.crt",
		"/etc/kubernetes/ssl/ca.pem": "/etc/kubernetes/ssl/ca-signing.pem",
		"/etc/pki/ca":                "/etc/pki/ca-signing",
		"/etc/pki/my.ca.crt":         "/etc/pki/my.ca-signing.crt",
	} {
		if got := SigningCopy(in); got != want {
			t.Errorf("SigningCopy(%s) = %s, want %s", in, got, want)
		}
		if back, ok := SigningOriginal(want); !ok || back != in {
			t.Errorf("SigningOriginal(%s) = %s, %v; want %s", want, back, ok, in)
		}
	}
	for _, p := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/-signing.crt", "/x/signing.crt", "-signing"} {
		if got, ok := SigningOriginal(p); ok {
			t.Errorf("SigningOriginal(%s) = %s, want not a signing copy", p, got)
		}
	}
}
