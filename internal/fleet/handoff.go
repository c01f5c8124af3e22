package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
)

// HandoffResult says what Handoff did.
type HandoffResult struct {
	Self   string `json:"self"`             // the local member's name
	Leader string `json:"leader"`           // the leader's name before
	To     string `json:"to,omitempty"`     // the member leadership moved to
	Moved  bool   `json:"moved"`            // false: the local member was not the leader
	Detail string `json:"detail,omitempty"` // for people
}

// Handoff moves etcd's leadership away from the member at endpoint when it
// is the leader, to a healthy voting member (POST
// /v3/maintenance/transfer-leadership on the leader, as etcdctl move-leader
// does), and waits (polling on c, at most limit) until the member reports
// the new leader. Restarting a leader that is not handed off costs the
// cluster an election (no leader for an election timeout or more: every API
// server's requests to etcd fail meanwhile); a follower's restart costs
// nothing.
func Handoff(ctx context.Context, e *EtcdClient, endpoint string, c clock.Clock, limit time.Duration) (*HandoffResult, error) {
	self, err := e.Status(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("the local member: %w", err)
	}
	members, err := e.MemberList(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	name := func(id string) string {
		for _, m := range members {
			if m.ID == id {
				return m.Name
			}
		}
		return id
	}
	r := &HandoffResult{Self: name(self.ID), Leader: name(self.Leader)}
	if self.Leader != self.ID {
		r.Detail = fmt.Sprintf("%s is not the leader (%s is): nothing to hand off", r.Self, r.Leader)
		return r, nil
	}
	var target *Member
	for i, m := range members {
		if m.ID == self.ID || m.IsLearner || len(m.ClientURLs) == 0 {
			continue
		}
		if e.Health(ctx, m.ClientURLs[0]) == nil {
			target = &members[i]
			break
		}
	}
	if target == nil {
		return r, errors.New("no other healthy voting member to hand the leadership to")
	}
	id, err := strconv.ParseUint(target.ID, 16, 64)
	if err != nil {
		return r, fmt.Errorf("member %s: ID %q: %w", target.Name, target.ID, err)
	}
	if _, err := e.postBody(ctx, endpoint, "/v3/maintenance/transfer-leadership", fmt.Sprintf(`{"targetID":"%d"}`, id)); err != nil {
		return r, fmt.Errorf("move the leadership to %s: %w", target.Name, err)
	}
	for waited := time.Duration(0); ; waited += 250 * time.Millisecond {
		st, err := e.Status(ctx, endpoint)
		if err == nil && st.Leader == target.ID {
			r.To, r.Moved = target.Name, true
			r.Detail = fmt.Sprintf("etcd leadership moved from %s to %s", r.Self, r.To)
			return r, nil
		}
		if waited >= limit {
			return r, fmt.Errorf("the leadership did not move to %s within %s", target.Name, limit)
		}
		if err := c.Sleep(ctx, 250*time.Millisecond); err != nil {
			return r, err
		}
	}
}
