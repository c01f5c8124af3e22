package binaryinstall

import (
	"os"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestMain lets this test binary serve as the testbed's supervisor and its
// control client (testbed.Main returns at once otherwise).
func TestMain(m *testing.M) {
	testbed.Main()
	code := m.Run()
	testbed.RemoveBuilt()
	os.Exit(code)
}
