package runner

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// At most limit calls run at once, every index is called once, and each error stays
// at its index.
func TestForEachLimit(t *testing.T) {
	var running, peak atomic.Int32
	calls := make([]atomic.Int32, 20)
	errs := forEachLimit(20, 3, func(i int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		calls[i].Add(1)
		if i%7 == 0 {
			return errors.New("failed")
		}
		return nil
	})
	if peak.Load() > 3 {
		t.Fatalf("%d calls at once, limit 3", peak.Load())
	}
	for i := range calls {
		if calls[i].Load() != 1 || (errs[i] != nil) != (i%7 == 0) {
			t.Fatalf("index %d: %d calls, error %v", i, calls[i].Load(), errs[i])
		}
	}
}
