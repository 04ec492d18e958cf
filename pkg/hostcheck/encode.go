package hostcheck

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxResultBytes is the size limit of a container termination message, which is how
// a Result travels from the node to the pre-check.
const MaxResultBytes = 4096

// CheckTruncated is the ID of the finding that stands for the findings left out.
const CheckTruncated = "host-truncated"

// maxFieldRunes bounds one message or remediation before whole findings are dropped.
const maxFieldRunes = 400

// Encode marshals r as one line of JSON of at most MaxResultBytes bytes. Long messages
// are shortened first; if the result is still too large, the last findings are
// replaced by one warning finding "... N more findings (see the pod log)". Errors are
// kept before warnings so the ones that block an upgrade survive the cut.
func Encode(r Result) ([]byte, error) {
	r.Findings = append([]Finding(nil), r.Findings...)
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	stableErrorsFirst(r.Findings)
	for i := range r.Findings {
		r.Findings[i].Message = shorten(r.Findings[i].Message, maxFieldRunes)
		r.Findings[i].Remediation = shorten(r.Findings[i].Remediation, maxFieldRunes)
	}
	all := r.Findings
	for keep := len(all); keep >= 0; keep-- {
		r.Findings = all[:keep:keep]
		if dropped := len(all) - keep; dropped > 0 {
			r.Findings = append(r.Findings, Finding{
				Check:    CheckTruncated,
				Severity: SeverityWarning,
				Message:  fmt.Sprintf("... %d more findings (see the pod log)", dropped),
			})
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode host check result: %w", err)
		}
		if len(b) <= MaxResultBytes {
			return b, nil
		}
	}
	return nil, fmt.Errorf("encode host check result: does not fit in %d bytes even without findings", MaxResultBytes)
}

// Decode parses what Encode wrote (and what older agents wrote).
func Decode(b []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("decode host check result: %w", err)
	}
	return r, nil
}

// HasErrors reports whether any finding blocks the upgrade.
func (r Result) HasErrors() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

func stableErrorsFirst(fs []Finding) {
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	for _, f := range fs {
		if f.Severity != SeverityError {
			out = append(out, f)
		}
	}
	copy(fs, out)
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
