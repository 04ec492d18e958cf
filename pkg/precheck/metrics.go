package precheck

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// parseMetrics reads the Prometheus text format and keeps the samples of the named
// metrics. It handles what the API server emits (no timestamps needed, escaped label
// values); everything else is ignored.
func parseMetrics(body []byte, names ...string) map[string][]Sample {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]Sample{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest, ok := splitSample(line)
		if !ok || !want[name] {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		val, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] = append(out[name], Sample{Labels: labels, Value: val})
	}
	return out
}

func splitSample(line string) (name string, labels map[string]string, rest string, ok bool) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", nil, "", false
	}
	name = line[:i]
	labels = map[string]string{}
	if line[i] != '{' {
		return name, labels, line[i:], true
	}
	s := line[i+1:]
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return name, labels, s[1:], true
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return "", nil, "", false
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var val strings.Builder
		closed := false
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case c == '\\' && j+1 < len(s):
				j++
				switch s[j] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[j])
				}
			case c == '"':
				s, closed = s[j+1:], true
			default:
				val.WriteByte(c)
			}
			if closed {
				break
			}
		}
		if !closed {
			return "", nil, "", false
		}
		labels[key] = val.String()
	}
}
