package edge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
)

// errNoBackend means no instance could take the request: none is up, or
// every one tried refused the connection. Nothing reached an app, so the
// client may simply try again: 503 with Retry-After.
var errNoBackend = errors.New("no instance available")

// dialError is a failed connection to an instance. Nothing of the request
// reached it, so the request may go to another instance whatever its method.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// upstream is the front's RoundTripper: it picks the backend itself, so that
// a request whose connection fails can be sent to another one, whatever its
// method. Once a connection was made, request bytes may have reached the
// app, and a POST must not run twice: only a replayable request (a GET
// without body, say) is resent then.
//
// http.Transport already resends an idempotent request whose pooled
// connection turns out dead, and then dials again; if that dial fails too
// the error is a dialError, and resending on another backend is as safe
// as the Transport's own retry was. A failed dial leaves the body unread.
type upstream struct {
	pool      *pool
	transport atomic.Pointer[http.Transport] // swapped by Front.Update
	balance   atomic.Pointer[balancer]
	onDown    func(id string)
	log       *slog.Logger

	mu      sync.Mutex
	retired []*http.Transport // replaced, with connections still in use; guarded by mu
}

// setTransport puts t in use; the one it replaces keeps the requests it
// carries, and its connections close once idle.
func (u *upstream) setTransport(t *http.Transport) {
	old := u.transport.Swap(t)
	if old == nil {
		return
	}
	old.CloseIdleConnections()
	u.mu.Lock()
	u.retired = append(u.retired, old)
	u.mu.Unlock()
}

// closeIdle closes the idle connections of every transport, for Close.
func (u *upstream) closeIdle() {
	u.transport.Load().CloseIdleConnections()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, t := range u.retired {
		t.CloseIdleConnections()
	}
	u.retired = nil
}

func newTransport(s upstreamSettings) *http.Transport {
	d := &net.Dialer{Timeout: s.dial}
	return &http.Transport{
		// No Proxy: HTTP_PROXY in tend's environment must not reroute the
		// loopback hop to an instance.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		// Enough idle connections that a busy app does not churn through
		// ephemeral ports; the default of 2 per host would.
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       s.idle,
		ResponseHeaderTimeout: s.responseHeader,
		// The client's Accept-Encoding reaches the app untouched, and its
		// compressed bodies pass through as they are: decompressing is not
		// the hop's job, and compressing is the edge's (compress.go).
		DisableCompression: true,
	}
}

// keepOpen shields the request body from the Close that http.Transport
// does when a dial fails, so the next try can still send it. ReverseProxy
// and the server close the real one when the handler returns.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

// attempt carries the backend that answered a request, and its response,
// from RoundTrip back to the handler, which counts the request in flight
// until it returns: a response body, or an upgraded connection, is still
// being served until then.
type attempt struct {
	b       *backend
	body    io.Closer // the response body; ReverseProxy may clear res.Body
	retries int       // other backends tried first
}

func (a *attempt) release() {
	if a.b != nil {
		// ReverseProxy has closed the body already, except when it refuses
		// a 101 (a protocol the client did not ask for): then this frees
		// the backend connection.
		a.body.Close()
		a.b.release()
	}
}

// RoundTrip sends req to a backend, trying others while connections fail.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	var att *attempt
	if ex := exchangeOf(req); ex != nil {
		att = &ex.att
	}
	bal := u.balance.Load()
	transport := u.transport.Load()
	var triedBuf [4]*backend
	tried := triedBuf[:0]
	var sent error // why a request that reached an instance failed
	for {
		b := u.pool.acquire(bal.sel, req, tried)
		if b == nil {
			if sent != nil {
				return nil, sent
			}
			return nil, errNoBackend
		}
		out := *req // RoundTrip must not change req, and each try has its own host
		url := *req.URL
		url.Host = b.Addr
		out.URL = &url
		if req.Body != nil && req.Body != http.NoBody {
			out.Body = keepOpen{req.Body}
		}
		res, err := transport.RoundTrip(&out)
		if err == nil {
			if att != nil {
				att.b, att.body, att.retries = b, res.Body, len(tried)
			} else {
				b.release()
			}
			if bal.cookie != "" {
				if c, err := req.Cookie(bal.cookie); err != nil || c.Value != b.cookie {
					res.Header.Add("Set-Cookie", (&http.Cookie{
						Name: bal.cookie, Value: b.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
					}).String())
				}
			}
			return res, nil
		}
		b.release()
		if req.Context().Err() != nil {
			// The client left or the front is closing: not the instance's fault.
			return nil, err
		}
		b.failures.Add(1)
		tried = append(tried, b)
		var de *dialError
		switch {
		case errors.As(err, &de):
			if u.pool.setDown(b, true) {
				u.log.Warn("instance down: connection failed", "instance", b.ID, "addr", b.Addr, "err", err)
				if u.onDown != nil {
					u.onDown(b.ID)
				}
			}
		case sent == nil && replayable(req):
			sent = err
			// The request reached the instance, which died before
			// answering. http.Transport resends such a request itself
			// when its connection was a pooled one; do the same for a
			// fresh one, once, on another instance, so that a crash
			// fails no GET. Once only: a request that kills the app
			// must not take every instance down with it.
			u.log.Info("resending idempotent request", "instance", b.ID, "method", req.Method, "err", err)
		default:
			return nil, err
		}
	}
}

// replayable says whether req can be sent twice without harm, by
// http.Transport's own rule: an idempotent method (or an Idempotency-Key)
// and no body.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// bufferPool recycles ReverseProxy's copy buffers, which it would otherwise
// allocate (32 KiB, zeroed) for every response.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte { return buffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) {
	if len(b) == 32<<10 {
		buffers.Put((*[32 << 10]byte)(b))
	}
}

// newProxy builds the ReverseProxy in front of u.
func newProxy(u *upstream, app string, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// ReverseProxy has dropped the client's X-Forwarded-* and
			// Forwarded already; these are ours, or a trusted proxy's.
			// pr.Out.Host stays the client's Host, so the app builds its
			// URLs from it. RoundTrip fills in the backend's address.
			rewriteForwarded(pr, exchangeOf(pr.In))
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "instance"
		},
		Transport:  u,
		BufferPool: bufferPool{},
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				tooLarge(w, tooBig.Limit)
			case errors.Is(err, errNoBackend):
				w.Header().Set("Retry-After", "1")
				http.Error(w, "503 Service Unavailable: no instance of "+app+" is ready", http.StatusServiceUnavailable)
			case r.Context().Err() != nil:
				w.WriteHeader(http.StatusBadGateway) // nobody is left to read it
			default:
				log.Warn("proxy error", "method", r.Method, "path", r.URL.Path, "err", err)
				http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			}
		},
	}
}
