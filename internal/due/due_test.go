package due

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestDecide(t *testing.T) {
	year := t0.Add(365 * day)
	cases := []struct {
		name   string
		policy string
		now    time.Time
		nb, na time.Time
		due    bool
		reason string
		at     time.Time
	}{
		{"a fresh one-year certificate is not due", "", t0.Add(day), t0, year, false, "", year.Add(-365 * day / 3)},
		{"a one-year certificate with more than a third left is not due", "", year.Add(-122 * day), t0, year, false, "", year.Add(-365 * day / 3)},
		{"a one-year certificate with less than a third left is due", "", year.Add(-121 * day), t0, year, true, ReasonMargin, year.Add(-365 * day / 3)},
		{"a 90-day certificate is due 30 days before it expires", "", t0.Add(60 * day), t0, t0.Add(90 * day), true, ReasonMargin, t0.Add(60 * day)},
		{"a 90-day certificate is not due 31 days before it expires", "", t0.Add(59 * day), t0, t0.Add(90 * day), false, "", t0.Add(60 * day)},
		{"an expired certificate is due", "", year.Add(time.Second), t0, year, true, ReasonExpired, year.Add(-365 * day / 3)},
		{"a certificate expiring this instant is expired", "", year, t0, year, true, ReasonExpired, year.Add(-365 * day / 3)},
		{"a certificate not yet valid is due", "", t0.Add(-time.Hour), t0, year, true, ReasonNotYetValid, year.Add(-365 * day / 3)},
		{"a fixed margin: 29 days left within 30d is due", "30d", year.Add(-29 * day), t0, year, true, ReasonMargin, year.Add(-30 * day)},
		{"a fixed margin: 31 days left within 30d is not due", "30d", year.Add(-31 * day), t0, year, false, "", year.Add(-30 * day)},
		{"a percentage: 10% of a year", "10%", year.Add(-36 * day), t0, year, true, ReasonMargin, year.Add(-365 * day / 10)},
		{"a certificate with an empty window is due only once expired", "", t0.Add(-time.Hour), t0, t0, true, ReasonNotYetValid, t0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePolicy(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(c.now, c.nb, c.na)
			if d.Due != c.due || d.Reason != c.reason {
				t.Errorf("Decide = due %v (%q), want %v (%q)", d.Due, d.Reason, c.due, c.reason)
			}
			if !d.At.Equal(c.at) {
				t.Errorf("At = %s, want %s", d.At, c.at)
			}
			if d.Left != c.na.Sub(c.now) {
				t.Errorf("Left = %s, want %s", d.Left, c.na.Sub(c.now))
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	good := map[string]Policy{
		"":      {Share: 1.0 / 3},
		"1/3":   {Share: 1.0 / 3},
		" 1/4 ": {Share: 0.25},
		"33%":   {Share: 0.33},
		"0.5":   {Share: 0.5},
		"30d":   {Margin: 30 * day},
		"720h":  {Margin: 720 * time.Hour},
		"1y":    {Margin: 365 * day},
	}
	for in, want := range good {
		got, err := ParsePolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "1", "3/3", "1/0", "0%", "100%", "150%", "-1/3", "a third", "0s", "-30d", "30x", "1/3/4", "%", "/"} {
		if p, err := ParsePolicy(in); err == nil || !errors.Is(err, ErrPolicy) {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want an ErrPolicy", in, p, err)
		}
	}
}

func TestPolicyStringReadsBack(t *testing.T) {
	for _, in := range []string{"1/3", "25%", "30d", "36h"} {
		p, err := ParsePolicy(in)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePolicy(p.String())
		if err != nil || q != p {
			t.Errorf("%q: String %q reads back as %+v, %v", in, p.String(), q, err)
		}
	}
	if got := Default().Describe(); got != "with less than a third of its lifetime left" {
		t.Errorf("Default().Describe() = %q", got)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"1/3", "33%", "30d", "720h", "0.5", "1/0", "", "1e308/1e-308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("ParsePolicy(%q): error %v is not an ErrPolicy", s, err)
			}
			return
		}
		if (p.Margin > 0) == (p.Share > 0) {
			t.Fatalf("ParsePolicy(%q) = %+v: want exactly one of Margin and Share", s, p)
		}
		if p.Share != 0 && !(p.Share > 0 && p.Share < 1) {
			t.Fatalf("ParsePolicy(%q) = %+v: share out of (0, 1)", s, p)
		}
		d := p.Decide(t0, t0, t0.Add(365*day))
		if d.At.After(t0.Add(365 * day)) {
			t.Fatalf("ParsePolicy(%q): due after expiry", s)
		}
	})
}
