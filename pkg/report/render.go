package report

import (
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	"text/template"

	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/status"
	"github.com/edgeupgrade/kubectl-edgeupgrade/pkg/upgrade"
)

// keptEvents are the Events worth a change record: all but one NodeUpgraded per node
// (the node table says each), with how many were left out.
func keptEvents(events []status.Event) ([]status.Event, int) {
	var out []status.Event
	skipped := 0
	for _, e := range events {
		if e.Reason == upgrade.ReasonNodeUpgraded {
			skipped++
			continue
		}
		out = append(out, e)
	}
	return out, skipped
}

type page struct {
	Summary
	SVG        htmltemplate.HTML
	PNG        string
	Kept       []status.Event
	NodeEvents int
}

func newPage(s Summary) page {
	kept, skipped := keptEvents(s.Events)
	return page{Summary: s, Kept: kept, NodeEvents: skipped}
}

// HTML writes a self-contained page: styles inline, the timeline as inline SVG.
func HTML(w io.Writer, s Summary) error {
	p := newPage(s)
	p.SVG = htmltemplate.HTML(s.Timeline.SVG()) // built from escaped text only (svg.go)
	return htmlPage.Execute(w, p)
}

// Markdown writes the report; png is the file name of the timeline picture beside it.
func Markdown(w io.Writer, s Summary, png string) error {
	p := newPage(s)
	p.PNG = png
	return mdPage.Execute(w, p)
}

var funcs = map[string]any{
	"time": func(e status.Event) string { return e.Time.UTC().Format("15:04:05") },
	// cell makes text safe in a Markdown table cell.
	"cell": func(s string) string {
		s = strings.ReplaceAll(s, "|", `\|`)
		return strings.Join(strings.Fields(s), " ")
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	},
}

var htmlPage = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f3f3}
.Failed{color:#b00;font-weight:bold}.Running{color:#c60}.Succeeded{color:#270}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Report made {{.Generated}} by kubectl edgeupgrade report, from the run's state, Jobs and Events.</p>
<h2>Outcome</h2>
<table>{{range .Outcome}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<h2>Parameters</h2>
<table>{{range .Parameters}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<h2>Pre-check</h2>
<p>{{.PreCheck}}</p>
<h2>Timeline</h2>
{{.SVG}}
<h2>Durations</h2>
<table><tr><th>phase</th><th>batches</th><th>nodes</th><th>start</th><th>duration</th><th>result</th></tr>
{{range .Phases}}<tr><td>{{.Name}}</td><td>{{.Batches}}</td><td>{{.Nodes}}</td><td>{{.Start}}</td><td>{{.Duration}}</td><td class="{{.Result}}">{{.Result}}</td></tr>
{{end}}</table>
<table><tr><th>pool</th><th>batches</th><th>nodes</th><th>start</th><th>duration</th><th>result</th></tr>
{{range .Pools}}<tr><td>{{.Name}}</td><td>{{.Batches}}</td><td>{{.Nodes}}</td><td>{{.Start}}</td><td>{{.Duration}}</td><td class="{{.Result}}">{{.Result}}</td></tr>
{{end}}</table>
<table><tr><th>batch</th><th>pool</th><th>nodes</th><th>start</th><th>duration</th><th>result</th></tr>
{{range .Batches}}<tr><td>{{.Name}}</td><td>{{.Pool}}</td><td>{{.Nodes}}</td><td>{{.Start}}</td><td>{{.Duration}}</td><td class="{{.Result}}">{{.Result}}</td></tr>
{{end}}</table>
<h2>Failures</h2>
{{if .Failures}}<table><tr><th>node</th><th>batch</th><th>step</th><th>at</th><th>message</th><th>then</th></tr>
{{range .Failures}}<tr><td>{{.Node}}</td><td>{{.Batch}}</td><td>{{.Step}}</td><td>{{.At}}</td><td>{{.Message}}</td><td>{{.Then}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>Nodes left behind</h2>
{{if .LeftBehind}}<table><tr><th>node</th><th>why</th></tr>
{{range .LeftBehind}}<tr><td>{{.Node}}</td><td>{{.Why}}</td></tr>
{{end}}</table>{{else}}<p>None: every node in scope is at the target.</p>{{end}}
<h2>Events</h2>
<table><tr><th>time (UTC)</th><th>type</th><th>reason</th><th>object</th><th>message</th></tr>
{{range .Kept}}<tr><td>{{time .}}</td><td>{{.Type}}</td><td>{{.Reason}}</td><td>{{.Object}}</td><td>{{.Message}}</td></tr>
{{end}}</table>
{{if .NodeEvents}}<p>And {{plural .NodeEvents "NodeUpgraded Event" "NodeUpgraded Events"}}, one per node upgraded.</p>{{end}}
</body></html>
`))

var mdPage = template.Must(template.New("md").Funcs(funcs).Parse(`# {{.Title}}

Report made {{.Generated}} by ` + "`kubectl edgeupgrade report`" + `, from the run's state, Jobs and Events.

## Outcome

| | |
|---|---|
{{range .Outcome}}| {{.Key}} | {{cell .Value}} |
{{end}}
## Parameters

| | |
|---|---|
{{range .Parameters}}| {{.Key}} | {{cell .Value}} |
{{end}}
## Pre-check

{{.PreCheck}}

## Timeline

![Batches over time, and nodes at the target over time]({{.PNG}})

## Durations

| phase | batches | nodes | start | duration | result |
|---|---|---|---|---|---|
{{range .Phases}}| {{.Name}} | {{.Batches}} | {{.Nodes}} | {{.Start}} | {{.Duration}} | {{.Result}} |
{{end}}
| pool | batches | nodes | start | duration | result |
|---|---|---|---|---|---|
{{range .Pools}}| {{.Name}} | {{.Batches}} | {{.Nodes}} | {{.Start}} | {{.Duration}} | {{.Result}} |
{{end}}
| batch | pool | nodes | start | duration | result |
|---|---|---|---|---|---|
{{range .Batches}}| {{.Name}} | {{.Pool}} | {{.Nodes}} | {{.Start}} | {{.Duration}} | {{.Result}} |
{{end}}
## Failures
{{if .Failures}}
| node | batch | step | at | message | then |
|---|---|---|---|---|---|
{{range .Failures}}| {{.Node}} | {{.Batch}} | {{.Step}} | {{.At}} | {{cell .Message}} | {{.Then}} |
{{end}}{{else}}
None.
{{end}}
## Nodes left behind
{{if .LeftBehind}}
| node | why |
|---|---|
{{range .LeftBehind}}| {{cell .Node}} | {{cell .Why}} |
{{end}}{{else}}
None: every node in scope is at the target.
{{end}}
## Events

| time (UTC) | type | reason | object | message |
|---|---|---|---|---|
{{range .Kept}}| {{time .}} | {{.Type}} | {{.Reason}} | {{.Object}} | {{cell .Message}} |
{{end}}{{if .NodeEvents}}
And {{plural .NodeEvents "NodeUpgraded Event" "NodeUpgraded Events"}}, one per node upgraded.
{{end}}`))
