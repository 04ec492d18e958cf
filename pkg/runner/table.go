package runner

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decodeTable decodes a server-side Table of what (e.g. "node") and returns the index
// of each named column, -1 for a column the server did not send.
func decodeTable(raw []byte, what string, columns ...string) (metav1.Table, []int, error) {
	var t metav1.Table
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, nil, fmt.Errorf("decode the %s table: %w", what, err)
	}
	if t.Kind != "Table" {
		return t, nil, fmt.Errorf("the API server answered %q, not a Table", t.Kind)
	}
	idx := make([]int, len(columns))
	for i, name := range columns {
		idx[i] = -1
		for j, c := range t.ColumnDefinitions {
			if c.Name == name {
				idx[i] = j
			}
		}
	}
	return t, idx, nil
}
