package e2e

import (
	"os"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestMain removes the certrescue binary the tests built once
// (testbed.Certrescue).
func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveBuilt()
	os.Exit(code)
}
