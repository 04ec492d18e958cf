package lab

import (
	"fmt"
	"testing"
)

func TestAssignLinkSpeeds(t *testing.T) {
	shares, err := ParseLinkSpeeds("10%=1Mbit,60%=10Mbit,30%=100Mbit")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for i := range 1000 {
		nodes = append(nodes, fmt.Sprintf("edge-a-%04d", i))
	}
	got := AssignLinkSpeeds(nodes, shares)
	count := map[string]int{}
	for _, s := range got {
		count[s]++
	}
	if len(got) != 1000 || count["1Mbit"] != 100 || count["10Mbit"] != 600 || count["100Mbit"] != 300 {
		t.Fatalf("assigned %d nodes: %v, want 100/600/300", len(got), count)
	}
	// Spread, not in name order: the first 100 names are not all on one speed.
	first := map[string]int{}
	for _, n := range nodes[:100] {
		first[got[n]]++
	}
	if len(first) < 3 {
		t.Errorf("the first 100 nodes by name have speeds %v: not spread", first)
	}
	for _, bad := range []string{"10%=1Mbit", "50%=1Mbit,50%=x", "1Mbit", "50=1Mbit,50%=2Mbit"} {
		if _, err := ParseLinkSpeeds(bad); err == nil {
			t.Errorf("ParseLinkSpeeds(%q): no error", bad)
		}
	}
}
