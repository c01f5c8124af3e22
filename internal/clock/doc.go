// Package clock is the one time seam of certrescue. Library code takes a Clock
// instead of calling time.Now or time.Sleep, so tests decide what "now" is and
// never wait for time to pass.
//
// A Clock tells the time (Now) and waits (Sleep, which ends early with
// ctx.Err() when the context ends first). Real is the wall clock: only the
// command layer constructs it, once for the certificates' "now" (Env.Clock)
// and once where real processes are measured (health gates, restarts, step
// timings), which keep real time even when a test moves the certificates'
// "now". Fake is a test clock: it stands still until the test moves it
// (Advance, Set) or something sleeps, and Sleep advances it at once.
//
// What it does not do: timers, tickers or goroutines. A loop that waits takes
// a Clock and calls Sleep.
//
// Inputs: none. Outputs: instants and waits.
package clock
