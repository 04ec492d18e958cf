package view

import (
	"bytes"
	"encoding/json"
	"io"
)

// JSON streams one status object per change, one object per line (for scripts:
// `| jq -c 'select(.phase == "Paused")'`). A change is anything but the clocks: the
// elapsed time and the estimate move on every redraw and would print an object each.
type JSON struct {
	w    io.Writer
	last []byte
}

// NewJSON prints to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Show prints s.Status when it changed.
func (j *JSON) Show(s Snapshot) {
	key := *s.Status
	key.Elapsed, key.ETA, key.Events = "", nil, nil
	k, err := json.Marshal(&key)
	if err != nil || bytes.Equal(k, j.last) {
		return
	}
	j.last = k
	b, err := json.Marshal(s.Status)
	if err != nil {
		return
	}
	_, _ = j.w.Write(append(b, '\n'))
}
