package ha

import (
	"os"
	"testing"

	"github.com/certrescue/certrescue/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Main() // the nodes' supervisors and supervisorctl are this binary
	os.Exit(m.Run())
}
