package evaluation

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// Evaluate judges every item at now under p. It is pure: the same items, now
// and policy always give the same report.
func Evaluate(items []inventory.Item, now time.Time, p Policy) Report {
	if p.Warn == 0 && p.Critical == 0 && p.MinRSABits == 0 {
		p = DefaultPolicy()
	}
	e := newEvaluator(items, now, p)
	rep := Report{Now: now, Counts: map[facts.Reason]int{}, Results: make([]Result, 0, len(items)),
		Policy: PolicySummary{WarnDays: days(p.Warn), CriticalDays: days(p.Critical), ExpectSANs: p.ExpectSANs}}
	rep.Results = rep.Results[:len(items)]
	parallel(len(items), func(i int) { rep.Results[i] = e.evaluate(&items[i]) })
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, f := range r.Findings {
			rep.Counts[f.Reason]++
			r.Status = max(r.Status, f.Severity)
		}
		rep.Status = max(rep.Status, r.Status)
	}
	Sort(rep.Results)
	return rep
}

// parallel runs f(0..n-1) over GOMAXPROCS goroutines (a node's twenty
// signature checks already gain from two cores); results depend only on i, so the report is the same.
func parallel(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n/8)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// Sort orders results most urgent first: by severity, then by expiry (soonest
// first, results without an expiry last), then by name and path.
func Sort(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		if c := cmp.Compare(b.Status, a.Status); c != 0 {
			return c
		}
		switch {
		case a.NotAfter != nil && b.NotAfter != nil:
			if c := a.NotAfter.Compare(*b.NotAfter); c != 0 {
				return c
			}
		case a.NotAfter != nil:
			return -1
		case b.NotAfter != nil:
			return 1
		}
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Path, b.Path))
	})
}

type evaluator struct {
	now   time.Time
	p     Policy
	items []inventory.Item
	cas   *caIndex
	// apiserver serving certificates, for SAN and kubeconfig CA checks
	apiservers []*inventory.Item
	byPath     map[string]*inventory.Item
	creds      credentials
}

func newEvaluator(items []inventory.Item, now time.Time, p Policy) *evaluator {
	e := &evaluator{now: now, p: p, items: items, cas: newCAIndex(items), byPath: map[string]*inventory.Item{}}
	for i := range items {
		it := &items[i]
		if it.Kind == inventory.KindServed || it.Kind == inventory.KindFile {
			continue
		}
		if _, ok := e.byPath[it.Path]; !ok {
			e.byPath[it.Path] = it
		}
		if it.Resolved != "" {
			if _, ok := e.byPath[it.Resolved]; !ok {
				e.byPath[it.Resolved] = it
			}
		}
		if it.Role == "apiserver" && it.Kind == inventory.KindCertificate && it.Leaf() != nil {
			e.apiservers = append(e.apiservers, it)
		}
	}
	return e
}

func (e *evaluator) evaluate(it *inventory.Item) Result {
	r := Result{Name: it.Name, Kind: it.Kind, Role: it.Role, Path: it.Path, Resolved: it.Resolved, KeyPath: it.KeyFile,
		IsCA: it.IsCA, Sources: it.Sources, Components: it.Components, Kubeconfig: it.Kubeconfig, Served: it.Served,
		Findings: []Finding{}}
	if r.KeyPath == it.Path {
		r.KeyPath = ""
	}
	add := func(reason facts.Reason, sev facts.Severity, path, format string, a ...any) {
		r.Findings = append(r.Findings, Finding{Reason: reason, Severity: sev, Path: path, Message: fmt.Sprintf(format, a...)})
	}
	for _, pr := range it.Problems {
		add(pr.Reason, facts.SeverityCritical, pr.Path, "%s", problemMessage(pr))
	}
	if leaf := it.Leaf(); leaf != nil {
		r.Cert = leaf
		nb, na := leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
		res := Duration(na.Sub(e.now))
		r.NotBefore, r.NotAfter, r.Residual = &nb, &na, &res
		r.IsCA = r.IsCA || leaf.IsCA
	}
	switch it.Kind {
	case inventory.KindCertificate:
		e.checkCertificate(it, &r, add)
		e.checkTrustAnchors(it, &r, add)
	case inventory.KindKubeconfig:
		e.checkCertificate(it, &r, add)
		e.checkKubeconfigTrustAnchors(it, &r, add)
	case inventory.KindKeyPair, inventory.KindKey:
		e.checkKeyOnly(it, add)
	case inventory.KindServed:
		e.checkServed(it, &r, add)
	}
	e.checkKubelet(it, add)
	return r
}

type addFunc func(reason facts.Reason, sev facts.Severity, path, format string, a ...any)

func (e *evaluator) checkCertificate(it *inventory.Item, r *Result, add addFunc) {
	leaf := it.Leaf()
	if leaf == nil {
		if it.Kind == inventory.KindKubeconfig && it.Kubeconfig != nil && len(it.Problems) == 0 {
			if it.Kubeconfig.OtherAuth != "" {
				r.Notes = append(r.Notes, "no client certificate: the user authenticates with "+it.Kubeconfig.OtherAuth)
			} else {
				r.Notes = append(r.Notes, "no client certificate")
			}
			e.checkKubeconfigCA(it, nil, add)
		}
		return
	}
	e.checkValidity(it, leaf, add)
	signer := e.checkChain(it, r, add)
	if v, ok := e.cas.verifier(it); ok {
		r.CAPath = v.item.Path
	}
	foreign := ""
	if it.Kind == inventory.KindKubeconfig {
		foreign = e.checkForeignClient(it, leaf, add)
	}
	if foreign == "" {
		e.checkKey(it, leaf, add)
	}
	e.checkUsage(it, leaf, add)
	e.checkWeak(it, leaf, add)
	e.checkPermissions(it, add)
	e.checkSANs(it, leaf, r, add)
	if it.Kind == inventory.KindKubeconfig {
		e.checkKubeconfigCA(it, signer, add)
	}
}

func (e *evaluator) checkKeyOnly(it *inventory.Item, add addFunc) {
	if it.Kind == inventory.KindKeyPair && it.Key != nil && it.PubKey != nil && !publicKeysEqual(it.Key, it.PubKey) {
		add(facts.ReasonKeyMismatch, facts.SeverityCritical, it.PubPath,
			"the public key %s is not the public half of %s: tokens signed with one do not verify with the other; regenerate the pair together and restart %s",
			it.PubPath, it.KeyFile, orDefault(strings.Join(it.Components, ", "), "the components that use it"))
	}
	if it.Key != nil {
		if weak, why := e.weakKey(it.Key); weak {
			add(facts.ReasonWeakKey, facts.SeverityWarning, it.KeyFile, "%s: %s", it.KeyFile, why)
		}
	}
	e.checkPermissions(it, add)
}

func problemMessage(p inventory.Problem) string {
	switch p.Reason {
	case facts.ReasonUnreadable:
		return fmt.Sprintf("cannot read %s %s: %v", orDefault(p.What, "file"), p.Path, p.Err)
	default:
		return fmt.Sprintf("%s %s is not usable: %v", orDefault(p.What, "file"), p.Path, p.Err)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
