package cli

import (
	"context"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/renewal"
)

type beforeDeployKey struct{}

// WithBeforeDeploy returns a context under which the rescue command calls f
// with its plan just before deploying it (rescue.Options.BeforeDeploy), so a
// test can break a renewed certificate on purpose and still run the command
// exactly as a user does (its roles, restarts and health gates). Main with
// any other context behaves as the binary does.
func WithBeforeDeploy(ctx context.Context, f func(*renewal.Plan)) context.Context {
	return context.WithValue(ctx, beforeDeployKey{}, f)
}

func beforeDeploy(ctx context.Context) func(*renewal.Plan) {
	f, _ := ctx.Value(beforeDeployKey{}).(func(*renewal.Plan))
	return f
}

type clockKey struct{}

// WithClock returns a context under which Main reads the time from c instead
// of the wall clock, so a test runs the command exactly as a user does and
// still prints the same dates every run. Main with any other context reads the
// wall clock, as the binary does.
func WithClock(ctx context.Context, c clock.Clock) context.Context {
	return context.WithValue(ctx, clockKey{}, c)
}

func clockFrom(ctx context.Context) clock.Clock {
	if c, ok := ctx.Value(clockKey{}).(clock.Clock); ok && c != nil {
		return c
	}
	return clock.Real{}
}
