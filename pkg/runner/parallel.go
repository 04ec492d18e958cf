package runner

import "sync"

// forEachLimit calls f(i) for every i in [0, n), at most limit calls at once, and
// returns each call's error at its index: the callers report every failure (a person
// fixes all the failed nodes in one go) or the first by index.
func forEachLimit(n, limit int, f func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errs
}
