package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// A following request (logs -f) streams its answer: the requester names a
// subject tend.stream.HOST.ID, subscribes to it, and sends the request
// with it; the agent answers the request with the status, then publishes
// the body there as it comes, and an empty message with an end header when
// it ends. The requester publishes on SUBJECT.alive every streamAlive; an
// agent that hears nothing for streamTimeout stops.
const (
	streamAlive   = 5 * time.Second
	streamTimeout = 3 * streamAlive
	endHeader     = "Tend-End"
)

func streamPrefix(host string) string { return "tend.stream." + host + "." }

// following says whether a request follows without end.
func following(path string) bool {
	p, q, _ := strings.Cut(path, "?")
	return p == "/logs" && strings.Contains("&"+q+"&", "&follow=1&")
}

// serveStream serves a following request, whose answer goes to
// req.Stream, until the daemon ends it, the requester stops saying it is
// there, or ctx is done.
func (a *Agent) serveStream(ctx context.Context, nc *nats.Conn, m *nats.Msg, req Request) {
	id, ok := strings.CutPrefix(req.Stream, streamPrefix(a.cfg.Name))
	if !ok || id == "" || strings.ContainsAny(id, ".*> ") {
		a.respond(m, Reply{Status: http.StatusBadRequest, Body: errorBody("bad stream subject %q", req.Stream)})
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var heard atomic.Int64
	heard.Store(time.Now().UnixNano())
	alive, err := nc.Subscribe(req.Stream+".alive", func(msg *nats.Msg) {
		if msg.Header.Get(endHeader) != "" {
			cancel() // the requester is done
			return
		}
		heard.Store(time.Now().UnixNano())
	})
	if err != nil {
		a.respond(m, Reply{Status: http.StatusInternalServerError, Body: errorBody("%v", err)})
		return
	}
	defer alive.Unsubscribe()
	// Ends with this call: cancel is deferred.
	go func() {
		t := time.NewTicker(streamAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, heard.Load())) > streamTimeout {
					cancel()
					return
				}
			}
		}
	}()
	hr, err := http.NewRequestWithContext(ctx, req.Method, "http://tend/v1"+req.Path, nil)
	if err != nil {
		a.respond(m, Reply{Status: http.StatusBadRequest, Body: errorBody("%v", err)})
		return
	}
	w := &streamWriter{recorder: recorder{header: http.Header{}}, a: a, nc: nc, m: m, subject: req.Stream}
	a.local.Handler().ServeHTTP(w, hr)
	w.Flush()
	w.answer() // nothing written: the status alone
	end := nats.NewMsg(req.Stream)
	end.Header.Set(endHeader, "1")
	_ = nc.PublishMsg(end)
}

// streamWriter answers the request with the status at its first flush,
// then publishes what is written at each flush.
type streamWriter struct {
	recorder
	a        *Agent
	nc       *nats.Conn
	m        *nats.Msg
	subject  string
	answered bool
}

func (w *streamWriter) Write(b []byte) (int, error) {
	n, err := w.recorder.Write(b)
	if w.body.Len() >= MaxReply {
		w.Flush()
	}
	return n, err
}

func (w *streamWriter) answer() {
	if w.answered {
		return
	}
	w.answered = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status != http.StatusOK {
		// An error is answered whole, in the reply.
		w.a.respond(w.m, Reply{Status: w.status, ContentType: w.header.Get("Content-Type"), Body: w.body.Bytes()})
		w.body.Reset()
		return
	}
	w.a.respond(w.m, Reply{Status: w.status, ContentType: w.header.Get("Content-Type")})
}

func (w *streamWriter) Flush() {
	if w.status == 0 {
		return
	}
	w.answer()
	for w.body.Len() > 0 {
		chunk := w.body.Next(MaxReply)
		if err := w.nc.Publish(w.subject, chunk); err != nil {
			w.a.log.Debug("fleet stream", "err", err)
			w.body.Reset()
		}
	}
}

// roundTripStream sends a following request and returns its answer, whose
// body reads the stream until it ends or is closed.
func (t transport) roundTripStream(ctx context.Context, req Request) (*http.Response, error) {
	nc := t.c.nc
	req.Stream = streamPrefix(t.host) + nuid.Next()
	chunks := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(req.Stream, chunks)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(req)
	if err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	m, err := t.request(ctx, RequestSubject(t.host, false), data)
	if err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("host %s: bad answer: %w", t.host, err)
	}
	if rep.Status != http.StatusOK {
		sub.Unsubscribe()
		return response(rep, io.NopCloser(bytes.NewReader(rep.Body))), nil
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	body := &streamBody{r: pr, stop: sync.OnceFunc(func() { close(done) })}
	// Ends when the stream ends, the body is closed or ctx is done; it
	// unsubscribes on its way out.
	go func() {
		defer sub.Unsubscribe()
		tick := time.NewTicker(streamAlive)
		defer tick.Stop()
		for {
			select {
			case msg := <-chunks:
				if msg.Header.Get(endHeader) != "" {
					pw.Close()
					return
				}
				if _, err := pw.Write(msg.Data); err != nil {
					return
				}
			case <-tick.C:
				_ = nc.Publish(req.Stream+".alive", nil)
			case <-done:
				pw.CloseWithError(errors.New("closed"))
				stopStream(nc, req.Stream)
				return
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				stopStream(nc, req.Stream)
				return
			}
		}
	}()
	return response(rep, body), nil
}

// stopStream tells the agent the requester is done with a stream.
func stopStream(nc *nats.Conn, subject string) {
	m := nats.NewMsg(subject + ".alive")
	m.Header.Set(endHeader, "1")
	_ = nc.PublishMsg(m)
	_ = nc.Flush()
}

// streamBody is a streamed answer's body; Close stops the stream.
type streamBody struct {
	r    *io.PipeReader
	stop func()
}

func (b *streamBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *streamBody) Close() error {
	b.stop()
	return b.r.Close()
}

func response(rep Reply, body io.ReadCloser) *http.Response {
	h := http.Header{}
	if rep.ContentType != "" {
		h.Set("Content-Type", rep.ContentType)
	}
	return &http.Response{StatusCode: rep.Status, Status: http.StatusText(rep.Status), Header: h, Body: body,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: -1}
}
