package sampler

import (
	"testing"

	"go.uber.org/goleak"
)

// Sample starts goroutines for large neighbourhoods; none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
