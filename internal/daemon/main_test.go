package daemon

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a daemon starts has an owner that ends it before Run
// returns; a goroutine left after the tests is one that has none.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
