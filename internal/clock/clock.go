// Package clock is the time seam of certrescue. Library code takes a Clock instead
// of calling time.Now, so tests decide what "now" is and never sleep.
package clock

import "time"

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock. Only the command layer constructs it.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Fixed is a clock stopped at one instant, for tests and reproducible runs.
type Fixed time.Time

// Now returns the fixed instant.
func (f Fixed) Now() time.Time { return time.Time(f) }
