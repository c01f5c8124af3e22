package cfssl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a cfssl expiry or backdate: a Go duration ("8760h",
// "87600h", "30m"), as cfssl does, plus whole days ("365d") and years ("10y",
// 365 days each) for people writing new files.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 || v > 1000 {
				return 0, fmt.Errorf("invalid duration %q: use a Go duration such as 8760h, or days (365d) or years (10y)", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q: use a Go duration such as 8760h, or days (365d) or years (10y)", s)
	}
	return d, nil
}

// FormatDuration prints a duration in cfssl's hours form ("8760h").
func FormatDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	}
	return d.String()
}
