package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/ready"
)

// Why an instance cannot be inspected; the daemon answers each with its own
// status.
var (
	ErrNotNode     = errors.New("not a Node.js app")
	ErrNoInstance  = errors.New("no such instance")
	ErrNotOnline   = errors.New("instance not online")
	ErrNoInspector = errors.New("instance has no inspector port")
)

// InspectTarget is the process whose inspector OpenInspector opened.
type InspectTarget struct {
	Index int
	PID   int
	// Port is the inspector's port on 127.0.0.1.
	Port int
}

// withInspectPort gives a Node process its own inspector port, merged into
// the NODE_OPTIONS the user set: the inspector stays closed until
// OpenInspector sends SIGUSR1, and then listens on 127.0.0.1 only. Ours
// comes last, so it wins over an --inspect-port the user set (which N
// instances could not share anyway). preload, when set, is required too:
// tend's runtime metrics.
func withInspectPort(env []string, preload string) ([]string, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	opt := "--inspect-port=127.0.0.1:" + strconv.Itoa(port)
	if preload != "" {
		// NODE_OPTIONS splits on spaces outside double quotes.
		opt += ` --require "` + strings.ReplaceAll(preload, `"`, `\"`) + `"`
	}
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
			if strings.TrimSpace(v) != "" {
				opt = v + " " + opt
			}
			env[i] = "NODE_OPTIONS=" + opt
			return env, port, nil
		}
	}
	return append(env, "NODE_OPTIONS="+opt), port, nil
}

// maxRuntimeFigures bounds the runtime figures a process can make the
// daemon remember.
const maxRuntimeFigures = 48

// runtimeBatch gathers the figures of one message of the runtime preload,
// which the owner goroutine then takes in one turn, not one per figure.
type runtimeBatch struct {
	mu   sync.Mutex // guards figs: a process's readers may call at once
	figs map[string]float64
}

// add takes one figure of the reader's message (name has
// ready.RuntimePrefix), or at ready.RuntimeEnd hands the batch to the owner.
func (b *runtimeBatch) add(a *App, p *proc, name string, v float64) {
	b.mu.Lock()
	if name != ready.RuntimeEnd {
		if b.figs == nil {
			b.figs = map[string]float64{}
		}
		if len(b.figs) < maxRuntimeFigures {
			b.figs[strings.TrimPrefix(name, ready.RuntimePrefix)] = v
		}
		b.mu.Unlock()
		return
	}
	figs := b.figs
	b.figs = nil
	b.mu.Unlock()
	if len(figs) > 0 {
		a.post(func() {
			p.runtime = figs
			if a.cfg.OnRuntime != nil && p.slot.cur == p && p.sp != nil {
				a.cfg.OnRuntime(p.slot.index, p.sp.Pid(), figs, a.spec.ProfileOnStall)
			}
		})
	}
}

// OpenInspector opens the inspector of instance index with SIGUSR1, if the
// instance is a Node process that is online: Node installs its SIGUSR1
// handler as it boots, and the signal before that would kill it. The
// caller closes the inspector again when it is done.
func (a *App) OpenInspector(index int) (InspectTarget, error) {
	var t InspectTarget
	var err error
	if e := a.do(func() {
		switch {
		case !a.spec.IsNode():
			err = fmt.Errorf("%s is %w (interpreter %q): only Node.js instances can be profiled", a.spec.Name, ErrNotNode, a.spec.Interpreter)
		case index < 0 || index >= len(a.slots):
			err = fmt.Errorf("%s has %d instance(s), 0 to %d: %w %d", a.spec.Name, len(a.slots), len(a.slots)-1, ErrNoInstance, index)
		default:
			s := a.slots[index]
			p := s.cur
			switch {
			case p == nil || p.state != api.StatusOnline:
				err = fmt.Errorf("%s instance %d is %s: %w (start it, or wait until `tend ls` shows it online)", a.spec.Name, index, s.status(), ErrNotOnline)
			case p.inspectPort == 0:
				err = fmt.Errorf("%s instance %d: %w (it started before tend could give it one: `tend reload %s` first)", a.spec.Name, index, ErrNoInspector, a.spec.Name)
			default:
				if e := p.sp.Signal(syscall.SIGUSR1); e != nil {
					err = fmt.Errorf("open the inspector of %s instance %d: %w", a.spec.Name, index, e)
					return
				}
				t = InspectTarget{Index: index, PID: p.sp.Pid(), Port: p.inspectPort}
			}
		}
	}); e != nil {
		return t, e
	}
	return t, err
}

// inspectPortOf is the inspector port withInspectPort put in env, 0 when
// there is none: how a process adopted across an update keeps its port.
func inspectPortOf(env []string) int {
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "NODE_OPTIONS=")
		if !ok {
			continue
		}
		port := 0
		for _, f := range strings.Fields(v) {
			if rest, ok := strings.CutPrefix(f, "--inspect-port=127.0.0.1:"); ok {
				if n, err := strconv.Atoi(rest); err == nil && n > 0 && n < 1<<16 {
					port = n // the last one wins, as in node
				}
			}
		}
		return port
	}
	return 0
}
