package flagedit

import (
	"bytes"
	"testing"
)

// FuzzSet: Set never panics; what it changes is only the value, and setting
// the old value back gives the input again.
func FuzzSet(f *testing.F) {
	f.Add([]byte(manifest), "cluster-signing-cert-file", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-signing.crt")
	f.Add([]byte("ExecStart=/bin/x \\\n --a b --a=c\n"), "a", "b", "/z")
	f.Add([]byte(`["x","--f='v'"]`), "f", "v", "w")
	f.Fuzz(func(t *testing.T, data []byte, flag, from, to string) {
		out, err := Set(data, flag, from, to)
		if err != nil {
			if out != nil {
				t.Fatal("an error with output")
			}
			return
		}
		if len(out) != len(data)-len(from)+len(to) {
			t.Fatalf("length %d, want %d", len(out), len(data)-len(from)+len(to))
		}
		uses := Find(out, flag)
		if len(uses) != 1 || uses[0].Value != to {
			t.Fatalf("after Set the flag reads %+v, want %q", uses, to)
		}
		if !bytes.Equal(out[:uses[0].Start], data[:uses[0].Start]) || !bytes.Equal(out[uses[0].End:], data[uses[0].Start+len(from):]) {
			t.Fatal("Set changed more than the value")
		}
		if back, err := Set(out, flag, to, from); err == nil && !bytes.Equal(back, data) {
			t.Fatalf("setting %q back gave\n%q\nnot\n%q", from, back, data)
		}
	})
}
