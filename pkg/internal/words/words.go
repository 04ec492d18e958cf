// Package words shortens text for one-line messages: a plural, a list of names cut
// after a few, the first line of a longer message.
package words

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Plural returns one when n is 1, otherwise many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// List joins the names with ", ", the first limit of them and how many more there are:
// "a, b, c (+2 more)".
func List(names []string, limit int) string {
	if len(names) <= limit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(names[:limit], ", "), len(names)-limit)
}

// FirstLine returns the first line of s, spaces trimmed, cut to at most limit bytes
// (without splitting a character) and then marked "...".
func FirstLine(s string, limit int) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) <= limit {
		return line
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + "..."
}
