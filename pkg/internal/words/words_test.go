package words

import "testing"

func TestPlural(t *testing.T) {
	if Plural(1, "error", "errors") != "error" || Plural(0, "error", "errors") != "errors" || Plural(2, "batch", "batches") != "batches" {
		t.Error("Plural")
	}
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		names []string
		limit int
		want  string
	}{
		{nil, 3, ""},
		{[]string{"a", "b", "c"}, 3, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e"}, 3, "a, b, c (+2 more)"},
	} {
		if got := List(tc.names, tc.limit); got != tc.want {
			t.Errorf("List(%q, %d) = %q, want %q", tc.names, tc.limit, got, tc.want)
		}
	}
}

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"  one line  ", 20, "one line"},
		{"\nfirst\nsecond", 20, "first"},
		{"abcdefghij", 4, "abcd..."},
		{"añb", 2, "a..."}, // ñ is two bytes: not split
	} {
		if got := FirstLine(tc.in, tc.limit); got != tc.want {
			t.Errorf("FirstLine(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}
