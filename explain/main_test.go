package explain

import (
	"testing"

	"go.uber.org/goleak"
)

// LIME and NewNeighborhood start goroutines for large neighbourhoods; none
// may outlive the call.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
