package carotation_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/testpki"
)

// pendingOf makes a rotation of the node's CA name (kept in memory).
func pendingOf(t *testing.T, nd *node, name string, cross bool) *carotation.Pending {
	t.Helper()
	ca := nd.tree.CAs[name]
	p, err := carotation.NewPending(name, ca.Cert, ca.Signer, carotation.NewOptions{Now: epoch, CrossSign: cross})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeysArchiveRoundTrip(t *testing.T) {
	nd := newNode(t)
	ps := []*carotation.Pending{pendingOf(t, nd, "ca", true), pendingOf(t, nd, "etcd-ca", false)}
	data, err := carotation.WriteKeysArchive(ps, epoch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := carotation.WriteKeysArchive(ps, epoch)
	if err != nil || !bytes.Equal(data, again) {
		t.Fatalf("the same rotations, other bytes (%v)", err)
	}
	got, err := carotation.ReadKeysArchive(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "ca" || got[1].Name != "etcd-ca" {
		t.Fatalf("read %d rotations", len(got))
	}
	for i, p := range got {
		if !bytes.Equal(p.New.Raw, ps[i].New.Raw) || !bytes.Equal(p.Old.Raw, ps[i].Old.Raw) || p.NewKey == nil {
			t.Errorf("%s: not the rotation written", p.Name)
		}
	}
	if got[0].Cross == nil || got[1].Cross != nil {
		t.Error("the cross-signed certificate is not kept as written")
	}
}

func TestKeysArchiveRefusesBadInput(t *testing.T) {
	nd := newNode(t)
	p := pendingOf(t, nd, "ca", false)
	other := pendingOf(t, nd, "front-proxy-ca", false)
	good, err := carotation.WriteKeysArchive([]*carotation.Pending{p}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 0xff
	// The new CA's certificate with another CA's key.
	mixed := *p
	mixed.NewKey = other.NewKey
	wrongKey, err := carotation.WriteKeysArchive([]*carotation.Pending{&mixed}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	// Another CA's new certificate under this CA's old one.
	swapped := *p
	swapped.New, swapped.NewKey = other.New, other.NewKey
	otherSubject, err := carotation.WriteKeysArchive([]*carotation.Pending{&swapped}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	// A CA archive of ca apply is not a key archive.
	certsOnly, err := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRotate, Created: epoch,
		CAs: []catrust.ArchiveCA{{Name: "ca", Path: "/etc/kubernetes/pki/ca.crt", OldSHA256: catrust.Fingerprint(p.Old), Cert: p.New}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"damaged": damaged, "another key": wrongKey, "another subject": otherSubject,
		"a ca apply archive": certsOnly, "empty": nil, "junk": []byte("not gzip")} {
		if _, err := carotation.ReadKeysArchive(data); !errors.Is(err, carotation.ErrBadKeysArchive) {
			t.Errorf("%s: %v, want ErrBadKeysArchive", name, err)
		}
	}
}

func TestImport(t *testing.T) {
	nd := newNode(t)
	p := pendingOf(t, nd, "ca", false)
	ca := nd.tree.CAs["ca"].Cert
	if done, err := carotation.Import(nd.n, p, ca, nil); err != nil || done {
		t.Fatalf("import: done %v, %v", done, err)
	}
	got, err := carotation.LoadPending(nd.n, "ca")
	if err != nil || got == nil || !bytes.Equal(got.New.Raw, p.New.Raw) {
		t.Fatalf("the pending rotation after import: %v", err)
	}
	fi, err := os.Stat(filepath.Join(nd.root, carotation.Dir, "ca", "new-ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new CA key: %v %v", fi, err)
	}
	if done, err := carotation.Import(nd.n, p, ca, nil); err != nil || !done {
		t.Fatalf("a rerun: done %v, %v", done, err)
	}
	// Another rotation of the same CA: refused, the pending one kept.
	before := snapshot(t, nd.root)
	if _, err := carotation.Import(nd.n, pendingOf(t, nd, "ca", false), ca, nil); !errors.Is(err, carotation.ErrOtherRotation) {
		t.Fatalf("another rotation pending: %v", err)
	}
	// Another cluster's CA of the same name: refused.
	nd2 := newNode(t)
	foreign := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	q, err := carotation.NewPending("ca", foreign.Cert, foreign.Signer, carotation.NewOptions{Now: epoch})
	if err != nil {
		t.Fatal(err)
	}
	before2 := snapshot(t, nd2.root)
	if _, err := carotation.Import(nd2.n, q, nd2.tree.CAs["ca"].Cert, nil); err == nil {
		t.Fatal("another cluster's rotation imported")
	}
	if snapshot(t, nd.root) != before || snapshot(t, nd2.root) != before2 {
		t.Error("a refused import changed a file")
	}
}
