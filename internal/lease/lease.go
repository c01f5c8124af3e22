package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certrescue/certrescue/internal/clock"
)

// Defaults of renew --auto's Lease.
const (
	DefaultNamespace = "kube-system"
	DefaultName      = "certrescue-renew"
	// DefaultDuration outlasts a renewal whose five health gates each take
	// their whole default 90 s, with the restarts between them.
	DefaultDuration = 30 * time.Minute
)

// maxDuration bounds Options.Duration: a day (and leaseDurationSeconds an int32).
const maxDuration = 24 * time.Hour

// Options name the Lease and who takes it.
type Options struct {
	Client    LeasesGetter
	Namespace string
	Name      string
	Holder    string        // the node's name
	Duration  time.Duration // how long the Lease stays this holder's without a renewal
	Clock     clock.Clock
}

// HeldError: another holder has the Lease and its duration has not run out.
type HeldError struct {
	Namespace, Name string
	Holder          string
	Until           time.Time // when it runs out, unless renewed
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("Lease %s/%s is held by %s until %s", e.Namespace, e.Name, e.Holder, e.Until.UTC().Format(time.RFC3339))
}

// UnreachableError: the API did not answer, or refused the credentials.
type UnreachableError struct {
	Namespace, Name string
	Err             error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("Lease %s/%s: the API server did not answer: %v", e.Namespace, e.Name, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Held is a Lease this holder has taken.
type Held struct {
	o   Options
	uid string

	mu   sync.Mutex
	took time.Time // its last renewal
}

// Holder is who holds it.
func (h *Held) Holder() string { return h.o.Holder }

// Until is when it runs out, unless renewed.
func (h *Held) Until() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.took.Add(h.o.Duration)
}

// ErrLost: the Lease is no longer this holder's (it ran out and another took
// it, or it was deleted).
var ErrLost = errors.New("the Lease is no longer ours")

// Renew moves the Lease's renewTime to now while it is still this holder's.
func (h *Held) Renew(ctx context.Context) error {
	leases := h.o.Client.Leases(h.o.Namespace)
	now := h.o.Clock.Now()
	cur, err := leases.Get(ctx, h.o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s/%s: %w (deleted)", h.o.Namespace, h.o.Name, ErrLost)
	}
	if err != nil {
		return h.o.apiError(err)
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != h.o.Holder {
		who := "nobody"
		if cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity != "" {
			who = *cur.Spec.HolderIdentity
		}
		return fmt.Errorf("%s/%s: %w (held by %s)", h.o.Namespace, h.o.Name, ErrLost, who)
	}
	if _, err := leases.Update(ctx, h.o.spec(cur.DeepCopy(), now), metav1.UpdateOptions{}); err != nil {
		return h.o.apiError(err)
	}
	h.mu.Lock()
	h.took = now
	h.mu.Unlock()
	return nil
}

// KeepAlive renews the Lease every third of its duration until stop is
// called, so a renewal that outlasts the duration keeps it. A renewal that
// fails (the API server restarting under the renewal itself) is tried again
// at the next tick; a lost Lease ends the keep-alive and is passed to lost,
// once. stop waits for the keep-alive to end.
func (h *Held) KeepAlive(ctx context.Context, lost func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := h.o.Clock.Sleep(ctx, h.o.Duration/3); err != nil {
				return
			}
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			err := h.Renew(rctx)
			rcancel()
			if errors.Is(err, ErrLost) {
				if lost != nil {
					lost(err)
				}
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (o *Options) defaults() error {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration < time.Second || o.Duration > maxDuration {
		return fmt.Errorf("lease: duration %s: between 1s and %s", o.Duration, maxDuration)
	}
	switch {
	case o.Client == nil:
		return errors.New("lease: Options.Client is nil")
	case o.Clock == nil:
		return errors.New("lease: Options.Clock is nil")
	case o.Holder == "":
		return errors.New("lease: the holder's name is empty")
	}
	return nil
}

// Acquire takes the Lease for o.Holder: it creates it, or takes it over when
// it has no holder, is this holder's already, or has run out. The API
// server's optimistic concurrency decides a race: the loser gets a
// *HeldError naming the winner.
func Acquire(ctx context.Context, o Options) (*Held, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	leases := o.Client.Leases(o.Namespace)
	for attempt := 0; ; attempt++ {
		now := o.Clock.Now()
		cur, err := leases.Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			created, err := leases.Create(ctx, o.spec(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace}}, now), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) && attempt == 0 {
				continue // another node created it first: read who
			}
			if err != nil {
				return nil, o.apiError(err)
			}
			return &Held{o: o, uid: string(created.UID), took: now}, nil
		}
		if err != nil {
			return nil, o.apiError(err)
		}
		if held := o.heldByOther(cur, now); held != nil {
			return nil, held
		}
		updated, err := leases.Update(ctx, o.spec(cur.DeepCopy(), now), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt == 0 {
			continue // changed since we read it: read again
		}
		if err != nil {
			return nil, o.apiError(err)
		}
		return &Held{o: o, uid: string(updated.UID), took: now}, nil
	}
}

// Release gives the Lease back (no holder) when this holder still has it;
// when another holder has taken it since (it ran out) it is left alone.
func (h *Held) Release(ctx context.Context) error {
	leases := h.o.Client.Leases(h.o.Namespace)
	cur, err := leases.Get(ctx, h.o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return h.o.apiError(err)
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != h.o.Holder {
		return nil
	}
	l := cur.DeepCopy()
	l.Spec.HolderIdentity = nil
	now := metav1.NewMicroTime(h.o.Clock.Now())
	l.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return h.o.apiError(err)
	}
	return nil
}

// spec makes l this holder's from now.
func (o *Options) spec(l *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(now)
	secs := int32(o.Duration / time.Second) // #nosec G115 -- defaults() bounds it to maxDuration, a day
	holder := o.Holder
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != holder {
		l.Spec.AcquireTime = &t
		trans := int32(0)
		if l.Spec.LeaseTransitions != nil {
			trans = *l.Spec.LeaseTransitions + 1
		}
		l.Spec.LeaseTransitions = &trans
	}
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &t
	return l
}

// heldByOther says whether another holder has l at now.
func (o *Options) heldByOther(l *coordinationv1.Lease, now time.Time) *HeldError {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || *s.HolderIdentity == o.Holder {
		return nil
	}
	last := time.Time{}
	switch {
	case s.RenewTime != nil:
		last = s.RenewTime.Time
	case s.AcquireTime != nil:
		last = s.AcquireTime.Time
	}
	dur := o.Duration
	if s.LeaseDurationSeconds != nil {
		dur = time.Duration(*s.LeaseDurationSeconds) * time.Second
	}
	until := last.Add(dur)
	if !now.Before(until) {
		return nil // run out: anyone's
	}
	return &HeldError{Namespace: o.Namespace, Name: o.Name, Holder: *s.HolderIdentity, Until: until}
}

// apiError is an error of the API call: an API server that answered with a
// status other than 401 is a plain error (forbidden, invalid); no answer, or
// credentials it refuses, is an *UnreachableError.
func (o *Options) apiError(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) && !apierrors.IsUnauthorized(err) && !apierrors.IsTimeout(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsServiceUnavailable(err) {
		return fmt.Errorf("the Lease %s/%s: %w", o.Namespace, o.Name, err)
	}
	return &UnreachableError{Namespace: o.Namespace, Name: o.Name, Err: err}
}
