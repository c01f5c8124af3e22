package cli

import (
	"context"

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
