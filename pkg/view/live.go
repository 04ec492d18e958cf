package view

import (
	"io"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// Live redraws the view in place on a terminal with bubbletea's inline renderer, which
// rewrites only the lines that changed and at most fps times a second however often
// the run changes. It reads no input: Ctrl-C stays the terminal's SIGINT, which stops
// the driver as without a view.
type Live struct {
	p    *tea.Program
	done chan struct{}
}

// fps bounds redraws: a few a second is live enough and costs nothing at 10,000 nodes.
const fps = 4

// StartLive starts drawing on out (a terminal).
func StartLive(out io.Writer, color bool) *Live {
	m := &model{color: color, now: time.Now}
	p := tea.NewProgram(m, tea.WithOutput(out), tea.WithInput(nil), tea.WithoutSignalHandler(), tea.WithFPS(fps))
	l := &Live{p: p, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		_, _ = p.Run() // a view that cannot draw must not stop the run
	}()
	return l
}

// Show draws s at the next frame.
func (l *Live) Show(s Snapshot) { l.p.Send(snapMsg(s)) }

// Stop draws the last snapshot once more and leaves it on the screen.
func (l *Live) Stop() {
	l.p.Send(stopMsg{})
	<-l.done
}

type (
	snapMsg Snapshot
	stopMsg struct{}
	tickMsg time.Time
)

type model struct {
	snap          *Snapshot
	width, height int
	color         bool
	now           func() time.Time
}

func (m *model) Init() tea.Cmd { return tick() }

// tick moves the clocks (elapsed, how long each node has run) between snapshots.
func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case snapMsg:
		s := Snapshot(msg)
		m.snap = &s
	case tickMsg:
		if m.snap != nil && !isFinal(m.snap) {
			m.snap.Now = m.now()
		}
		return m, tick()
	case stopMsg:
		return m, tea.Quit
	}
	return m, nil
}

func (m *model) View() string {
	if m.snap == nil {
		return "waiting for the run…"
	}
	w, h := m.width, m.height
	if w == 0 || h == 0 {
		w, h = 80, 24
	}
	// The inline renderer erases the line the cursor is on when it stops: the view
	// ends with an empty line for it, and stays a line shorter than the screen.
	return Render(*m.snap, Screen{Width: w, Height: h - 2, Color: m.color}) + "\n"
}

// isFinal: the clocks of an ended run stand still.
func isFinal(s *Snapshot) bool {
	return s.Status.Phase == "Completed" || s.Status.Phase == "Cancelled"
}
