package exporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
)

// brokenNode writes a kubeadm node where findings need other files to be
// judged: an etcd CA re-signed to expire before its leaves
// (ca_expires_before_leaf, a warning until the CA expires at caEnd), the
// front-proxy client signed by the cluster CA (untrusted_chain), admin.conf
// trusting a foreign CA (kubeconfig_ca_mismatch), and under /extra leaves
// whose CA file sorts after them plus one signed by an impostor of that CA.
func brokenNode(t *testing.T) (root string, sources []inventory.Source, caEnd time.Time) {
	t.Helper()
	root = t.TempDir()
	tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	caEnd = testpki.Epoch.Add(100 * 24 * time.Hour)
	testpki.AgeKubeadmTree(t, root, testpki.Epoch.Add(-time.Hour), caEnd, testpki.AgeOnly("etcd-ca"))
	fp := tr.Leaves["front-proxy-client"]
	wrong := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithTemplate(testpki.TemplateFrom(fp.Cert)), testpki.WithKey(fp.Key))
	testpki.WriteCert(t, tr.Path("/etc/kubernetes/pki/front-proxy-client.crt"), wrong.Cert)
	foreign := testpki.MustCA(t, testpki.WithCN("foreign-ca"))
	testpki.WriteFile(t, tr.Path("/etc/kubernetes/admin.conf"),
		testpki.Kubeconfig(t, tr.Server, foreign.Cert, tr.Leaves["admin.conf"], "kubernetes-admin"), 0o600)

	extra := testpki.MustCA(t, testpki.WithCN("extra-ca"))
	for i := range 4 {
		testpki.WriteCert(t, filepath.Join(root, fmt.Sprintf("extra/a%d.crt", i)), testpki.MustLeaf(t, extra, testpki.WithCN(fmt.Sprintf("a%d", i))).Cert)
	}
	impostor := testpki.MustCA(t, testpki.WithCN("extra-ca"))
	testpki.WriteCert(t, filepath.Join(root, "extra/b.crt"), testpki.MustLeaf(t, impostor, testpki.WithCN("b")).Cert)
	testpki.WriteCert(t, filepath.Join(root, "extra/z-ca.crt"), extra.Cert)
	return root, append(inventory.Sources(), Paths{Patterns: []string{"/extra"}}), caEnd
}

// checkFindings is what check's evaluation says of the whole node at now,
// one scan, every file parsed at once: "reason severity path", less the
// reasons the Collector computes from the clock.
func checkFindings(t *testing.T, root string, sources []inventory.Source, now time.Time) []string {
	t.Helper()
	items, err := inventory.Scan(context.Background(), inventory.NewReader(root), sources...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range evaluation.Evaluate(items, now, evaluation.DefaultPolicy()).Results {
		for _, f := range r.Findings {
			if timeReason(f.Reason) {
				continue
			}
			p := f.Path
			if p == "" {
				p = r.Path
			}
			out = append(out, fmt.Sprintf("%s %s %s", f.Reason, f.Severity, p))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scrapedFindings is the same from a scrape's certrescue_finding series.
func scrapedFindings(got map[string][]sample) []string {
	var out []string
	for _, s := range got["certrescue_finding"] {
		if timeReason(facts.Reason(s.labels["reason"])) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s", s.labels["reason"], s.labels["severity"], s.labels["filepath"]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestFindingsAreCheckFindingsWhateverTheBatchesAndTheClock(t *testing.T) {
	root, sources, caEnd := brokenNode(t)
	before := checkFindings(t, root, sources, testpki.Epoch)
	after := checkFindings(t, root, sources, caEnd.Add(24*time.Hour))
	for _, want := range []string{
		"ca_expires_before_leaf warning /etc/kubernetes/pki/etcd/server.crt",
		"untrusted_chain critical /etc/kubernetes/pki/front-proxy-client.crt",
		"kubeconfig_ca_mismatch critical /etc/kubernetes/admin.conf",
		"untrusted_chain critical /extra/b.crt",
	} {
		if !slices.Contains(before, want) {
			t.Fatalf("the broken node lacks %q; check finds:\n%v", want, before)
		}
	}
	if !slices.Contains(after, "ca_expires_before_leaf critical /etc/kubernetes/pki/etcd/server.crt") {
		t.Fatalf("check does not make ca_expires_before_leaf critical once the CA expired:\n%v", after)
	}
	for _, batch := range []int{1, 3, 0} {
		t.Run(fmt.Sprintf("batches of %d paths", batch), func(t *testing.T) {
			n, c, clk := newNode(t, root, sources...)
			n.batch = batch
			refresh(t, n)
			if got := scrapedFindings(scrape(t, c)); !slices.Equal(got, before) {
				t.Errorf("at the start:\ngot  %v\nwant %v", got, before)
			}
			parsed := n.Parsed()
			clk.Set(caEnd.Add(24 * time.Hour)) // no refresh: the scrape alone follows the clock
			if got := scrapedFindings(scrape(t, c)); !slices.Equal(got, after) {
				t.Errorf("a day after the etcd CA expired, before any refresh:\ngot  %v\nwant %v", got, after)
			}
			refresh(t, n)
			if got := scrapedFindings(scrape(t, c)); !slices.Equal(got, after) {
				t.Errorf("after a refresh:\ngot  %v\nwant %v", got, after)
			}
			if n.Parsed() != parsed {
				t.Errorf("time passing made %d items parsed again", n.Parsed()-parsed)
			}
		})
	}
}

func TestUnchangedFilesAreNeverParsedAgainAndOnlyContextStaysParsed(t *testing.T) {
	root, sources, _ := brokenNode(t)
	n, c, clk := newNode(t, root, sources...)
	n.batch = 4
	refresh(t, n)
	parsed := n.Parsed()
	first := canonical(scrape(t, c))
	for i := range 3 {
		clk.Advance(time.Hour)
		refresh(t, n)
		if n.Parsed() != parsed {
			t.Fatalf("refresh %d of an unchanged node parsed %d items again", i+2, n.Parsed()-parsed)
		}
	}
	clk.Set(testpki.Epoch)
	if got := canonical(scrape(t, c)); !slices.Equal(got, first) {
		t.Errorf("unchanged refreshes changed the series")
	}
	kept, full := 0, 0
	for key, ck := range n.cache {
		for _, k := range ck.items {
			kept++
			if k.full == nil {
				continue
			}
			full++
			if !k.context {
				t.Errorf("%s (%s): parsed certificates kept for an item nothing is judged against", key, k.kind)
			}
		}
	}
	if full == 0 || full == kept {
		t.Errorf("%d of %d items keep their parsed certificates; want the CAs, the API server's and the kubeconfigs only", full, kept)
	}
}

func TestAChangedFileIsParsedAgainWithWhatWasJudgedAgainstIt(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("shop-ca"))
	elsewhere := testpki.MustCA(t, testpki.WithCN("elsewhere-ca"))
	at := func(name string) string { return filepath.Join(root, "pki", name) }
	replace := func(name string, write func(p string)) {
		t.Helper()
		write(at(name) + ".new")
		if err := os.Rename(at(name)+".new", at(name)); err != nil {
			t.Fatal(err)
		}
	}
	testpki.WriteCert(t, at("z-ca.crt"), ca.Cert)
	for i := range 4 {
		testpki.WriteCert(t, at(fmt.Sprintf("l%d.crt", i)), testpki.MustLeaf(t, ca, testpki.WithCN(fmt.Sprintf("l%d", i))).Cert)
	}
	testpki.WriteCert(t, at("other.crt"), testpki.MustLeaf(t, elsewhere, testpki.WithCN("other")).Cert)
	n, c, _ := newNode(t, root, Paths{Patterns: []string{"/pki"}})
	n.batch = 1
	untrusted := func(got map[string][]sample) []string {
		var out []string
		for _, s := range find(got, "certrescue_finding", map[string]string{"reason": string(facts.ReasonUntrustedChain)}) {
			out = append(out, s.labels["filename"])
		}
		slices.Sort(out)
		return out
	}
	newCA := testpki.MustCA(t, testpki.WithCN("shop-ca")) // same name, another key
	steps := []struct {
		name          string
		change        func()
		parsed        int64 // items parsed by the refresh
		cn            string
		wantUntrusted []string
	}{
		{"the first refresh reads every file (the leaves again once their CA is read after them)", func() {}, 6 + 4, "l0", nil},
		{"nothing changed", func() {}, 0, "l0", nil},
		{"a leaf replaced is read alone and its series follow", func() {
			replace("l0.crt", func(p string) {
				testpki.WriteCert(t, p, testpki.MustLeaf(t, ca, testpki.WithCN("l0-renewed")).Cert)
			})
		}, 1, "l0-renewed", nil},
		{"the CA replaced by another key: it and the four leaves it signed are read again", func() {
			replace("z-ca.crt", func(p string) { testpki.WriteCert(t, p, newCA.Cert) })
		}, 1 + 4, "l0-renewed", []string{"l0.crt", "l1.crt", "l2.crt", "l3.crt"}},
		{"a leaf reissued by the new CA", func() {
			replace("l0.crt", func(p string) {
				testpki.WriteCert(t, p, testpki.MustLeaf(t, newCA, testpki.WithCN("l0-reissued")).Cert)
			})
		}, 1, "l0-reissued", []string{"l1.crt", "l2.crt", "l3.crt"}},
		{"the CA removed: the leaves named after it are judged again", func() {
			if err := os.Remove(at("z-ca.crt")); err != nil {
				t.Fatal(err)
			}
		}, 4, "l0-reissued", nil},
	}
	for _, s := range steps {
		s.change()
		before := n.Parsed()
		refresh(t, n)
		if got := n.Parsed() - before; got != s.parsed {
			t.Errorf("%s: parsed %d items, want %d", s.name, got, s.parsed)
		}
		got := scrape(t, c)
		one(t, got, "x509_cert_not_after", map[string]string{"filename": "l0.crt", "subject_CN": s.cn})
		if len(find(got, "x509_cert_not_after", map[string]string{"filename": "l0.crt"})) != 1 {
			t.Errorf("%s: stale series left for l0.crt:\n%s", s.name, dump(got, "x509_cert_not_after"))
		}
		if u := untrusted(got); !slices.Equal(u, s.wantUntrusted) {
			t.Errorf("%s: untrusted_chain on %v, want %v", s.name, u, s.wantUntrusted)
		}
		want := checkFindings(t, root, []inventory.Source{Paths{Patterns: []string{"/pki"}}}, testpki.Epoch)
		if got := scrapedFindings(got); !slices.Equal(got, want) {
			t.Errorf("%s: findings\ngot  %v\nwant %v (check over the whole directory)", s.name, got, want)
		}
	}
}

func TestTimeDependentSeriesFollowTheClockWithoutAParse(t *testing.T) {
	root := t.TempDir()
	caEnd := testpki.Epoch.Add(50 * 24 * time.Hour)
	ca := testpki.MustCA(t, testpki.WithCN("short-ca"), testpki.WithValidity(testpki.Epoch.Add(-time.Hour), caEnd))
	nb, na := testpki.Epoch.Add(24*time.Hour), testpki.Epoch.Add(60*24*time.Hour)
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("late"), testpki.WithValidity(nb, na))
	testpki.WriteCert(t, filepath.Join(root, "pki/ca.crt"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "pki/late.crt"), leaf.Cert)
	n, c, clk := newNode(t, root, Paths{Patterns: []string{"/pki"}})
	refresh(t, n)
	parsed := n.Parsed()
	where := map[string]string{"filename": "late.crt", "subject_CN": "late"}
	findings := func(got map[string][]sample) []string {
		var out []string
		for _, s := range find(got, "certrescue_finding", map[string]string{"filename": "late.crt"}) {
			out = append(out, s.labels["reason"]+" "+s.labels["severity"])
		}
		slices.Sort(out)
		return out
	}
	steps := []struct {
		name    string
		now     time.Time
		expired float64
		want    []string
	}{
		{"before NotBefore", testpki.Epoch, 0, []string{"ca_expires_before_leaf warning", "not_yet_valid critical"}},
		{"valid, 40 days left", na.Add(-40 * 24 * time.Hour), 0, []string{"ca_expires_before_leaf warning"}},
		{"under the warning threshold", na.Add(-20 * 24 * time.Hour), 0, []string{"ca_expires_before_leaf warning", "expiring warning"}},
		{"its CA expired, under the critical threshold", na.Add(-5 * 24 * time.Hour), 0, []string{"ca_expires_before_leaf critical", "expiring critical"}},
		{"expired", na.Add(time.Second), 1, []string{"ca_expires_before_leaf critical", "expired critical"}},
	}
	for _, s := range steps {
		clk.Set(s.now)
		got := scrape(t, c)
		if v := one(t, got, "x509_cert_expires_in_seconds", where).value; v != na.Sub(s.now).Seconds() {
			t.Errorf("%s: expires_in = %v, want %v", s.name, v, na.Sub(s.now).Seconds())
		}
		if v := one(t, got, "x509_cert_valid_since_seconds", where).value; v != s.now.Sub(nb).Seconds() {
			t.Errorf("%s: valid_since = %v, want %v", s.name, v, s.now.Sub(nb).Seconds())
		}
		if v := one(t, got, "x509_cert_expired", where).value; v != s.expired {
			t.Errorf("%s: expired = %v, want %v", s.name, v, s.expired)
		}
		if f := findings(got); !slices.Equal(f, s.want) {
			t.Errorf("%s: findings %v, want %v", s.name, f, s.want)
		}
		if s.now.After(caEnd) != slices.Contains(s.want, "ca_expires_before_leaf critical") {
			t.Fatalf("%s: the table is wrong about the CA's expiry", s.name)
		}
	}
	if n.Parsed() != parsed {
		t.Errorf("the clock made %d items parsed again", n.Parsed()-parsed)
	}
}

func TestTheListingHashSeesEveryFieldOfAListedItem(t *testing.T) {
	base := inventory.Item{Name: "apiserver", Role: "apiserver", Kind: inventory.KindCertificate, Path: "/p/a.crt",
		KeyPath: "/p/a.key", Sources: []string{"kubeadm"}, CA: inventory.CARef{Name: "ca", Path: "/p/ca.crt"},
		ExpectSANs: []inventory.ExpectedSAN{{Value: "10.0.0.1", Why: "manifest"}}, Optional: true}
	h := listingHash([]inventory.Item{base})
	if listingHash([]inventory.Item{base}) != h {
		t.Fatal("the same listing hashes differently")
	}
	changes := map[string]func(it *inventory.Item){
		"a source":      func(it *inventory.Item) { it.Sources = append(it.Sources, "--dir /p") },
		"the CA's path": func(it *inventory.Item) { it.CA.Path = "/p/other-ca.crt" },
		"an expected SAN": func(it *inventory.Item) {
			it.ExpectSANs = []inventory.ExpectedSAN{{Value: "10.0.0.2", Why: "manifest"}}
		},
		"being optional": func(it *inventory.Item) { it.Optional = false },
		"the kind":       func(it *inventory.Item) { it.Kind = inventory.KindKubeconfig },
		"a problem": func(it *inventory.Item) {
			it.Problems = []inventory.Problem{{Reason: facts.ReasonMalformed, Err: os.ErrInvalid}}
		},
		"the key's path":      func(it *inventory.Item) { it.KeyPath = "" },
		"the role's CA usage": func(it *inventory.Item) { it.IsCA = true },
	}
	for name, change := range changes {
		it := base
		it.Sources = slices.Clone(base.Sources)
		change(&it)
		if listingHash([]inventory.Item{it}) == h {
			t.Errorf("changing %s leaves the listing hash as it was", name)
		}
	}
}
