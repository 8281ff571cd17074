package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tendhq/tend/internal/api"
)

const (
	// QueueSize is how many alerts wait for one target; a new one pushes
	// out the oldest.
	QueueSize = 64
	// MaxBackoff is the longest wait between two attempts.
	MaxBackoff = 30 * time.Second
	// maxAnswer is how much of a webhook's answer is read (and dropped).
	maxAnswer = 64 << 10
)

type job struct {
	id   uint64
	body []byte
	// tried is how many attempts an earlier daemon made (tend update).
	tried int
}

type counts struct{ delivered, failed, dropped, suppressed uint64 }

// sender delivers one target's alerts, one at a time, from its queue.
// Alerter.Run starts its goroutine (run) and stops it with run's context.
type sender struct {
	t       Target
	index   int
	shown   string // t's URL, redacted
	client  *http.Client
	backoff time.Duration
	log     *slog.Logger
	report  func(id uint64, target int, change func(*api.Delivery))
	wake    chan struct{} // a job was queued

	mu    sync.Mutex
	queue []job  // guarded by mu; oldest first, at most QueueSize
	n     counts // guarded by mu
}

func newSender(t Target, index int, backoff time.Duration, log *slog.Logger, report func(uint64, int, func(*api.Delivery))) *sender {
	return &sender{
		t: t, index: index, shown: t.Shown(), backoff: backoff, log: log, report: report,
		client: &http.Client{Timeout: t.Timeout},
		wake:   make(chan struct{}, 1),
	}
}

func (s *sender) count(f func(*counts)) {
	s.mu.Lock()
	f(&s.n)
	s.mu.Unlock()
}

// state is the target as GET /v1/alerts shows it.
func (s *sender) state() api.AlertTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.t.Events
	if len(events) == 0 {
		events = api.AlertKinds
	}
	return api.AlertTarget{
		URL: s.shown, Format: s.t.Format, Events: events, Queued: len(s.queue),
		Delivered: s.n.delivered, Failed: s.n.failed, Dropped: s.n.dropped, Suppressed: s.n.suppressed,
	}
}

// enqueue queues j without waiting: when the queue is full, its oldest
// alert is dropped (and counted) to make room.
func (s *sender) enqueue(j job) {
	s.mu.Lock()
	var lost []job
	if len(s.queue) >= QueueSize {
		lost = append(lost, s.queue[0])
		s.queue = append(s.queue[:0], s.queue[1:]...)
		s.n.dropped++
	}
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	for _, l := range lost {
		s.log.Warn("alert dropped: the target's queue is full", "target", s.shown, "queue", QueueSize)
		s.report(l.id, s.index, func(d *api.Delivery) { d.Status = api.DeliveryDropped })
	}
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
}

func (s *sender) pop() (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return job{}, false
	}
	j := s.queue[0]
	s.queue = append(s.queue[:0], s.queue[1:]...)
	return j, true
}

// run delivers the queue until ctx is done.
// Once drain is closed, it returns as soon as its queue is empty.
func (s *sender) run(ctx context.Context, drain <-chan struct{}) {
	for {
		j, ok := s.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-drain:
				if s.queued() == 0 {
					return
				}
			case <-s.wake:
			}
			continue
		}
		s.deliver(ctx, j)
		if ctx.Err() != nil {
			return // j went back to the queue
		}
	}
}

// putBack returns a job whose delivery the daemon's end cut off to the
// head of the queue, for Alerter.Handover to carry to the next daemon.
func (s *sender) putBack(j job) {
	s.mu.Lock()
	s.queue = append([]job{j}, s.queue...)
	s.mu.Unlock()
}

// jobs returns the queue, oldest first.
func (s *sender) jobs() []job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queue)
}

func (s *sender) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// deliver makes up to t.Attempts attempts at j, waiting Backoff, then
// twice as long each time (at most MaxBackoff), between them. Only a
// network error, a timeout, 408, 429 or a 5xx is worth another attempt.
// When ctx ends first, j goes back to the queue, still pending.
func (s *sender) deliver(ctx context.Context, j job) {
	wait := s.backoff
	for n := j.tried + 1; ; n++ {
		code, err := s.post(ctx, j.body)
		if ctx.Err() != nil {
			j.tried = n - 1 // the daemon stops: this attempt does not count
			s.putBack(j)
			return
		}
		last := err == nil || n >= s.t.Attempts || !retryable(code)
		s.report(j.id, s.index, func(d *api.Delivery) {
			if last {
				settle(d, n, code, err)
			} else {
				d.Attempts, d.Code, d.Error = n, code, err.Error()
			}
		})
		switch {
		case err == nil:
			s.count(func(c *counts) { c.delivered++ })
			return
		case last:
			s.count(func(c *counts) { c.failed++ })
			s.log.Warn("alert not delivered", "target", s.shown, "attempts", n, "err", err)
			return
		}
		s.log.Info("alert delivery failed; retrying", "target", s.shown, "attempt", n, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			j.tried = n
			s.putBack(j)
			return
		case <-t.C:
		}
		wait = min(2*wait, MaxBackoff)
	}
}

func retryable(code int) bool {
	return code == 0 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// post makes one attempt: it returns the HTTP status (0 when there was
// none) and an error unless it is 2xx. No error names the URL, which
// holds the target's secret.
func (s *sender) post(ctx context.Context, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot make a request of the URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tend-alerts")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()) {
			return 0, fmt.Errorf("no answer within %s", s.t.Timeout)
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("HTTP %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// Body is what a target of format json is sent.
type Body struct {
	ID        uint64    `json:"id"`
	Host      string    `json:"host"`
	App       string    `json:"app,omitempty"`
	Subject   string    `json:"subject"` // the app, or the host lost
	Kind      string    `json:"kind"`
	Message   string    `json:"message"`
	Time      time.Time `json:"time"`
	Recovered bool      `json:"recovered"`
	Text      string    `json:"text"` // the line a chat shows
}

// SlackBody is what a target of format slack is sent.
type SlackBody struct {
	Text string `json:"text"`
}

// bodies are al's bodies by format.
func bodies(al api.Alert, subject string) map[string][]byte {
	j, _ := json.Marshal(Body{ID: al.ID, Host: al.Host, App: al.App, Subject: subject, Kind: al.Kind,
		Message: al.Message, Time: al.Time, Recovered: al.Recovered, Text: al.Text})
	s, _ := json.Marshal(SlackBody{Text: al.Text})
	return map[string][]byte{FormatJSON: j, FormatSlack: s}
}

// labels are how the kinds read in a sentence.
var labels = map[string]string{
	api.AlertErrored:      "errored",
	api.AlertCrashLoop:    "crash loop",
	api.AlertMemoryLimit:  "memory limit",
	api.AlertReloadFailed: "reload failed",
	api.AlertDeployFailed: "deploy failed",
	api.AlertHostLost:     "host lost",
	api.AlertTest:         "test",
}

// text is the one line an alert reads as: "[host] app: crash loop:
// message", or "[host] app: recovered from crash loop: message".
func text(host string, r Raised) string {
	label := labels[r.Kind]
	if label == "" {
		label = r.Kind
	}
	s := "[" + host + "] "
	if r.Subject != "" {
		s += r.Subject + ": "
	}
	switch {
	case r.Recovered:
		s += "recovered from " + label + ": "
	case !strings.HasPrefix(r.Message, label+":"): // "reload failed: ..." says it already
		s += label + ": "
	}
	return s + r.Message
}
