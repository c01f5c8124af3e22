package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Reason is why a pre-gate is not open; the values are a stable contract of
// `fleet pregate -o json`.
type Reason string

// Reasons.
const (
	ReasonEtcdUnreachable     Reason = "etcd_unreachable"      // a member did not answer (or no endpoint did)
	ReasonEtcdUnhealthy       Reason = "etcd_unhealthy"        // a member's /health is not "true"
	ReasonEtcdNoLeader        Reason = "etcd_no_leader"        // a member knows no leader
	ReasonEtcdLeaderSplit     Reason = "etcd_leader_split"     // healthy members name different leaders
	ReasonEtcdMembersDisagree Reason = "etcd_members_disagree" // members list different memberships
	ReasonEtcdNoSpare         Reason = "etcd_no_spare"         // quorum holds, but losing one more member breaks it
	ReasonEtcdNoQuorum        Reason = "etcd_no_quorum"        // fewer healthy voting members than a quorum
	ReasonLBNotReady          Reason = "lb_not_ready"          // the load balancer's /readyz is not 200
)

// Verdict is the pre-gate's outcome.
type Verdict string

// Verdicts: open (go ahead with one node), closed (the cluster serves but
// touching a node now could break it), down (etcd has no quorum now: a
// rolling rescue has nothing left to protect).
const (
	Open   Verdict = "open"
	Closed Verdict = "closed"
	Down   Verdict = "down"
)

// PregateOptions say what to ask.
type PregateOptions struct {
	// Endpoints are etcd client URLs to start from (the local member's);
	// every member's client URLs come from the member list.
	Endpoints []string
	Etcd      *EtcdClient
	// LB is the load balancer's API server URL (https://VIP:6443); empty
	// skips the check.
	LB     string
	LBHTTP *http.Client
	// Spare is how many members may be lost with quorum kept (default 1).
	Spare int
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
}

// MemberState is one member as the pre-gate saw it.
type MemberState struct {
	Member
	Endpoint string        `json:"endpoint,omitempty"` // the client URL asked
	Healthy  bool          `json:"healthy"`
	Status   *MemberStatus `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Problem is one reason with what it is about.
type Problem struct {
	Reason  Reason `json:"reason"`
	Member  string `json:"member,omitempty"`
	Message string `json:"message"`
}

// LBState is the load balancer's answer.
type LBState struct {
	URL   string `json:"url"`
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// PregateResult is everything the pre-gate found.
type PregateResult struct {
	Verdict  Verdict       `json:"verdict"`
	Members  []MemberState `json:"members"`
	Voting   int           `json:"voting"`
	Healthy  int           `json:"healthy"` // healthy voting members
	Quorum   int           `json:"quorum"`
	Spare    int           `json:"spare"` // healthy voting members beyond the quorum
	Leader   string        `json:"leader,omitempty"`
	LB       *LBState      `json:"loadBalancer,omitempty"`
	Problems []Problem     `json:"problems"`
}

// Pregate asks every member and the load balancer and decides.
func Pregate(ctx context.Context, o PregateOptions) (*PregateResult, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoint to ask")
	}
	if o.Etcd == nil || o.Etcd.HTTP == nil {
		return nil, errors.New("no etcd client")
	}
	if o.Spare == 0 {
		o.Spare = 1
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	r := &PregateResult{Problems: []Problem{}}
	problem := func(reason Reason, member, format string, a ...any) {
		r.Problems = append(r.Problems, Problem{Reason: reason, Member: member, Message: fmt.Sprintf(format, a...)})
	}
	members, errs := firstMemberList(ctx, o)
	if members == nil {
		problem(ReasonEtcdUnreachable, "", "no etcd endpoint answered its member list: %s", strings.Join(errs, "; "))
		r.Verdict = Down
		r.checkLB(ctx, o, problem)
		return r, nil
	}
	r.Members = askMembers(ctx, o, members)
	lists := map[string][]string{}
	for i := range r.Members {
		m := &r.Members[i]
		if !m.IsLearner {
			r.Voting++
		}
		switch {
		case m.Error != "":
			problem(ReasonEtcdUnreachable, m.Name, "member %s (%s): %s", m.Name, m.Endpoint, m.Error)
		case !m.Healthy:
			problem(ReasonEtcdUnhealthy, m.Name, "member %s (%s) is not healthy", m.Name, m.Endpoint)
		case m.Status == nil || m.Status.Leader == "0":
			m.Healthy = false
			problem(ReasonEtcdNoLeader, m.Name, "member %s knows no leader", m.Name)
		}
		if m.Healthy && !m.IsLearner {
			r.Healthy++
		}
	}
	for _, list := range memberLists(ctx, o, r.Members) {
		lists[list.key] = append(lists[list.key], list.member)
	}
	if len(lists) > 1 {
		var parts []string
		for k, who := range lists {
			parts = append(parts, strings.Join(who, ",")+" list "+k)
		}
		sort.Strings(parts)
		problem(ReasonEtcdMembersDisagree, "", "members list different memberships: %s", strings.Join(parts, "; "))
	}
	leaders := map[string][]string{}
	for _, m := range r.Members {
		if m.Healthy && m.Status != nil {
			leaders[m.Status.Leader] = append(leaders[m.Status.Leader], m.Name)
		}
	}
	if len(leaders) > 1 {
		var parts []string
		for l, who := range leaders {
			parts = append(parts, strings.Join(who, ",")+" say "+l)
		}
		sort.Strings(parts)
		problem(ReasonEtcdLeaderSplit, "", "healthy members name different leaders: %s", strings.Join(parts, "; "))
	}
	for l := range leaders {
		r.Leader = l
	}
	r.Quorum = r.Voting/2 + 1
	r.Spare = r.Healthy - r.Quorum
	switch {
	case r.Healthy < r.Quorum:
		problem(ReasonEtcdNoQuorum, "", "%d of %d voting members healthy, a quorum is %d: etcd has no quorum now", r.Healthy, r.Voting, r.Quorum)
		r.Verdict = Down
	case r.Spare < o.Spare:
		problem(ReasonEtcdNoSpare, "", "%d of %d voting members healthy, a quorum is %d: restarting one more member would lose it (%d to spare, want %d)",
			r.Healthy, r.Voting, r.Quorum, max(r.Spare, 0), o.Spare)
	}
	r.checkLB(ctx, o, problem)
	if r.Verdict == "" {
		r.Verdict = Open
		if len(r.Problems) > 0 {
			r.Verdict = Closed
		}
	}
	return r, nil
}

// firstMemberList is the member list of the first endpoint that answers.
func firstMemberList(ctx context.Context, o PregateOptions) ([]Member, []string) {
	// Every endpoint at once: with etcd down each one may take the whole
	// timeout, and asking them in turn would add them up. The first
	// endpoint of the list that answered is the one taken.
	type answer struct {
		ms  []Member
		err error
	}
	answers := make([]answer, len(o.Endpoints))
	var wg sync.WaitGroup
	for i, ep := range o.Endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			answers[i].ms, answers[i].err = o.Etcd.MemberList(cctx, ep)
		}()
	}
	wg.Wait()
	var errs []string
	for i, a := range answers {
		if a.err == nil && len(a.ms) > 0 {
			return a.ms, nil
		}
		if a.err == nil {
			a.err = errors.New("an empty member list")
		}
		errs = append(errs, o.Endpoints[i]+": "+a.err.Error())
	}
	return nil, errs
}

// askMembers asks each member, in parallel, for its health and status on
// its first client URL that answers.
func askMembers(ctx context.Context, o PregateOptions, members []Member) []MemberState {
	out := make([]MemberState, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i].Member = m
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &out[i]
			if len(m.ClientURLs) == 0 {
				s.Error = "no client URL (not started yet?)"
				return
			}
			var errs []string
			for _, u := range m.ClientURLs {
				cctx, cancel := context.WithTimeout(ctx, o.Timeout)
				st, err := o.Etcd.Status(cctx, u)
				if err == nil {
					s.Endpoint, s.Status = u, st
					s.Healthy = o.Etcd.Health(cctx, u) == nil
					cancel()
					return
				}
				cancel()
				errs = append(errs, err.Error())
			}
			s.Endpoint = m.ClientURLs[0]
			s.Error = strings.Join(errs, "; ")
		}()
	}
	wg.Wait()
	return out
}

type listKey struct{ member, key string }

// memberLists is each reachable member's own member list, as a sorted key.
func memberLists(ctx context.Context, o PregateOptions, states []MemberState) []listKey {
	var out []listKey
	for _, s := range states {
		if s.Error != "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, o.Timeout)
		ms, err := o.Etcd.MemberList(cctx, s.Endpoint)
		cancel()
		if err != nil {
			continue // counted as unreachable already if it is
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		slices.Sort(ids)
		out = append(out, listKey{s.Name, "[" + strings.Join(ids, " ") + "]"})
	}
	return out
}

func (r *PregateResult) checkLB(ctx context.Context, o PregateOptions, problem func(Reason, string, string, ...any)) {
	if o.LB == "" {
		return
	}
	r.LB = &LBState{URL: o.LB}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	err := readyz(cctx, o.LBHTTP, o.LB)
	if err != nil {
		r.LB.Error = err.Error()
		problem(ReasonLBNotReady, "", "the load balancer %s: %v", o.LB, err)
		return
	}
	r.LB.Ready = true
}

func readyz(ctx context.Context, c *http.Client, base string) error {
	if c == nil {
		return errors.New("no HTTP client")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s: %s", resp.Status, firstLine(body))
	}
	return nil
}
