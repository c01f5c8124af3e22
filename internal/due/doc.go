// Package due decides which certificates a scheduled renewal (renew --auto,
// run by the certrescue timer) renews: those within a Policy's margin of
// expiry. The default margin is a third of each certificate's own lifetime
// (a one-year certificate is due about four months before it expires, a
// 90-day one 30 days before), so the decision depends on the certificate
// alone, never on when the timer runs next (kubespray's renewal computed
// its margin from the timer's next elapse and renewed everything whenever
// systemd reported it empty).
//
// It is pure: Decide is a function of (now, notBefore, notAfter, policy). It
// reads no file, no clock, and prints nothing; the caller passes "now" from
// its clock.Clock.
//
// Inputs: a Policy (ParsePolicy reads --before: "1/3", "33%", "30d", "720h")
// and a certificate's validity window. Outputs: a Decision (due or not, why,
// and when it becomes due).
package due
