package containerd

import "testing"

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{"v2.2.9": "2.2.9", "1.6.20~ds1": "1.6.20", "1.7.24-0ubuntu1": "1.7.24", " 2.0.5\n": "2.0.5"} {
		v, err := ParseVersion(in)
		if err != nil || v.String() != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	for _, in := range []string{"", "1.7", "cri-o 1.30"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) accepted", in)
		}
	}
}
