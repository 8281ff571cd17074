package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/internal/edge/h1"
	"github.com/tendhq/tend/internal/edge/httpsyntax"
	"github.com/tendhq/tend/internal/edge/transform"
	"github.com/tendhq/tend/internal/edge/upstream"
)

// errNoBackend means no instance could take the request: none is up, or
// every one tried refused the connection. Nothing reached an app, so the
// client may simply try again: 503 with Retry-After.
var errNoBackend = errors.New("no instance available")

// proxy is the front's proxy: it picks the backend for each request,
// sends the request over a connection of its own client
// (internal/edge/upstream), and streams the response back. A request whose connection fails is sent to
// another backend, whatever its method. Once a connection was made,
// request bytes may have reached the app, and a POST must not run twice:
// only a replayable request (a GET without body, say) is resent then.
//
// As http.Transport did before it, it resends a replayable request whose
// pooled connection turns out dead on a fresh one; if that dial fails too
// the error is an upstream.DialError, and resending on another backend
// is as safe as that retry was. A request that is not replayable gets a pooled
// connection only once a peek found it still open.
type proxy struct {
	pool     *pool
	settings atomic.Pointer[upstreamSettings] // swapped by Front.Update
	balance  atomic.Pointer[balancer]
	onDown   func(id string)
	log      *slog.Logger
	app      string
	now      func() time.Time
	badBody  logLimiter // the client's body failed: one line per interval
}

// setSettings puts s in use for the requests that start from now on. Idle
// connections are closed, as replacing http.Transport used to.
func (u *proxy) setSettings(s upstreamSettings) {
	if old := u.settings.Swap(&s); old != nil {
		u.closeIdle()
	}
}

// closeIdle closes the idle connections to every backend, for Close.
func (u *proxy) closeIdle() {
	for _, b := range u.pool.all() {
		b.idle.Drop(false)
	}
}

// call is one request on its way through the proxy.
type call struct {
	r    *http.Request
	w    http.ResponseWriter
	ex   *exchange
	head []byte // the request head, as sent to every backend tried
	body bool   // the request has a body to send after head
	cfg  *upstreamSettings

	c     *upstream.Conn    // the connection the response comes on
	up    upstream.Response // its response
	wrote chan error        // the body writer's result, when body

	// What closes c if the client leaves (or Close cuts the request
	// off): the client's connection, read on by the server, when the
	// request came over HTTP/1 (h1.Conn.Watch); else an AfterFunc
	// on the request's context, which stop ends.
	fc   *h1.Conn
	stop func() bool
}

// clientGone says whether the client left, or the front cut it off.
func (cl *call) clientGone() bool {
	return cl.r.Context().Err() != nil || cl.fc != nil && cl.fc.Gone()
}

// errClientGone fails a request whose client left before it was sent.
var errClientGone = errors.New("the client left")

// release ends the use of the connection: back to the idle list when
// reuse says it can take another request, else closed. It waits for the
// body writer, which owns the connection while it runs.
func (cl *call) release(b *backend, reuse bool) {
	c := cl.c
	if c == nil {
		return
	}
	cl.c = nil
	if cl.fc != nil && !cl.fc.Unwatch(c) {
		reuse = false // the client left: its connection closed c
	}
	if cl.stop != nil && !cl.stop() {
		reuse = false // the request's context ended: the watch closed c
	}
	cl.stop = nil
	if cl.wrote != nil {
		select {
		case err := <-cl.wrote:
			reuse = reuse && err == nil
		default:
			// The instance answered before it read the whole body: the
			// connection is no use unless the rest goes out.
			reuse = false
			c.Close()
			<-cl.wrote
		}
		cl.wrote = nil
	}
	if reuse {
		b.idle.Put(c, time.Now(), cl.cfg.idle)
		return
	}
	c.Close()
}

var calls = sync.Pool{New: func() any { return &call{head: make([]byte, 0, 1024)} }}

// serve proxies r, of the exchange ex, to an instance.
func (u *proxy) serve(w http.ResponseWriter, r *http.Request, ex *exchange) {
	if !httpsyntax.IsToken(r.Method) {
		u.fail(w, r, fmt.Errorf("invalid method %q", r.Method))
		return
	}
	upType := upgradeType(r.Header)
	if upType != "" && !isPrint(upType) {
		u.fail(w, r, fmt.Errorf("client tried to switch to invalid protocol %q", upType))
		return
	}
	cl := calls.Get().(*call)
	*cl = call{r: r, w: w, ex: ex, head: cl.head[:0], cfg: u.settings.Load(), fc: ex.fc}
	defer func() {
		if cap(cl.head) <= 16<<10 {
			head := cl.head
			*cl = call{head: head}
			calls.Put(cl)
		}
	}()
	n := r.ContentLength
	cl.body = r.Body != nil && r.Body != http.NoBody && n != 0
	if !cl.body {
		// The server reads the client's connection (its watch) only
		// once a body was read to its end: until then a client that
		// leaves fails the body's copy.
		n = 0
	}
	cl.head = appendHead(cl.head, r, ex, upType, n, cl.body)

	b, err := u.roundTrip(cl)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	// Counted in flight until the response, or the upgraded connection,
	// ends.
	defer b.release()
	ex.instance, ex.answered = b.ID, b
	reuse := false
	defer func() { cl.release(b, reuse) }()

	up := &cl.up
	h := w.Header()
	announced := 0
	if res := up.Res; res != nil {
		// Read by http.ReadResponse: a head of an unusual kind.
		if res.StatusCode == http.StatusSwitchingProtocols {
			u.upgrade(cl, b, upType)
			return
		}
		httpsyntax.RemoveHopByHop(res.Header)
		for k, vv := range res.Header {
			if prev, ok := h[k]; ok {
				h[k] = append(prev, vv...)
			} else {
				h[k] = vv
			}
		}
		if announced = len(res.Trailer); announced > 0 {
			keys := make([]string, 0, announced)
			for k := range res.Trailer {
				keys = append(keys, k)
			}
			h.Add("Trailer", strings.Join(keys, ", "))
		}
	}
	u.stick(h, r, b)
	w.WriteHeader(up.Status)
	// A stream (server-sent events, or a body of unknown length) goes out
	// as it comes, as ReverseProxy flushed it.
	if err := copyBody(w, up.Body, up.Length == -1 || transform.IsEventStream(h)); err != nil {
		if !errors.As(err, new(*clientWriteError)) && !cl.clientGone() {
			u.log.Warn("instance failed mid-response", "instance", b.ID, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		// Half a response has gone out: all that is left is to cut the
		// client off. The server closes the connection; the front's
		// handler records what was sent.
		panic(http.ErrAbortHandler)
	}
	reuse = !up.Close
	if up.Res == nil {
		return
	}
	trailer := up.Res.Trailer
	if len(trailer) > 0 {
		// Chunked whatever its size, so that the trailers can follow.
		http.NewResponseController(w).Flush()
	}
	if len(trailer) == announced {
		for k, vv := range trailer {
			h[k] = append(h[k], vv...)
		}
		return
	}
	for k, vv := range trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

// stick sets the sticky cookie that sends the client back to b, unless
// the request carried it.
func (u *proxy) stick(h http.Header, r *http.Request, b *backend) {
	bal := u.balance.Load()
	if bal.cookie == "" {
		return
	}
	if c, err := r.Cookie(bal.cookie); err != nil || c.Value != b.cookie {
		h.Add("Set-Cookie", (&http.Cookie{
			Name: bal.cookie, Value: b.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		}).String())
	}
}

// clientWriteError is a failure to write to the client: it left.
type clientWriteError struct{ err error }

func (e *clientWriteError) Error() string { return e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

// copyBody copies the response body to w with a pooled buffer, flushing
// after each write when flush is set. It returns nil only when the body
// was read to its end.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	bufp := upstream.Buffers.Get().(*[32 << 10]byte)
	defer upstream.Buffers.Put(bufp)
	buf := bufp[:]
	var rc *http.ResponseController
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return &clientWriteError{err}
			}
			if flush {
				if rc == nil {
					rc = http.NewResponseController(w)
				}
				if err := rc.Flush(); err != nil {
					return &clientWriteError{err}
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// roundTrip sends cl's request to a backend, trying others while
// connections fail, and returns the backend that answered, counted in
// flight, with cl.c and cl.up set.
func (u *proxy) roundTrip(cl *call) (*backend, error) {
	r := cl.r
	bal := u.balance.Load()
	var tried []*backend // nil until a retry: no allocation for most requests
	var sent error       // why a request that reached an instance failed
	replay := replayable(r)
	for {
		b := u.pool.acquire(bal.sel, r, tried)
		if b == nil {
			if sent != nil {
				return nil, sent
			}
			return nil, errNoBackend
		}
		err := u.send(cl, b, replay)
		if err == nil {
			cl.ex.retries = len(tried)
			return b, nil
		}
		b.release()
		if cl.clientGone() {
			// The client left or the front is closing: not the instance's fault.
			return nil, err
		}
		var be *upstream.BodyError
		if errors.As(err, &be) {
			// The client's body failed: no instance's fault either. The
			// instance had the request, so the client's 4xx counts in
			// its traffic.
			cl.ex.instance, cl.ex.answered = b.ID, b
			return nil, err
		}
		b.failures.Add(1)
		tried = append(tried, b)
		var de *upstream.DialError
		switch {
		case errors.As(err, &de):
			if u.pool.setDown(b, true) {
				u.log.Warn("instance down: connection failed", "instance", b.ID, "addr", b.Addr, "err", err)
				if u.onDown != nil {
					u.onDown(b.ID)
				}
			}
		case sent == nil && replay:
			sent = err
			// The request reached the instance, which died before
			// answering. Resend it, once, on another instance, so that
			// a crash fails no GET. Once only: a request that kills the
			// app must not take every instance down with it.
			u.log.Info("resending idempotent request", "instance", b.ID, "method", r.Method, "err", err)
		default:
			return nil, err
		}
	}
}

// send sends the request on a connection to b and reads the response
// head. A pooled connection that turns out dead before a byte of the
// response came is replaced by another, for a replayable request.
func (u *proxy) send(cl *call, b *backend, replay bool) error {
	ctx := cl.r.Context()
	for {
		c, reused := b.idle.Get(time.Now()), true
		for c != nil && !replay && !c.Alive() {
			c.Close()
			c = b.idle.Get(time.Now())
		}
		if c == nil {
			var err error
			if c, err = upstream.Dial(ctx, b.Addr, cl.cfg.dial); err != nil {
				return err
			}
			reused = false
		}
		cl.c = c
		if cl.fc == nil {
			cl.stop = context.AfterFunc(ctx, c.Close)
		} else if !cl.fc.Watch(c) {
			cl.c = nil
			c.Close()
			return errClientGone
		}
		fresh, err := cl.exchange(c)
		if err == nil {
			return nil
		}
		cl.release(b, false)
		if !reused || !replay || !fresh || cl.clientGone() {
			return err
		}
	}
}

// exchange writes the request on c and reads the response head into
// cl.up. fresh reports, with an error, that nothing of a response had
// come, and the error was not a timeout: the instance had closed the
// connection.
func (cl *call) exchange(c *upstream.Conn) (fresh bool, err error) {
	if cl.body {
		bw := c.Writer()
		bw.Write(cl.head)
		wrote := make(chan error, 1)
		cl.wrote = wrote
		go func(r *http.Request, n int64) {
			err := upstream.WriteBody(c, r.Body, n)
			if errors.As(err, new(*upstream.BodyError)) {
				// The instance waits for the rest of the body: stop
				// the read of its response. A failed write needs no
				// such help, and the instance may have answered (413).
				c.Close()
			}
			wrote <- err
		}(cl.r, cl.r.ContentLength)
	} else if _, err := c.NetConn().Write(cl.head); err != nil {
		return true, err
	}
	if t := cl.cfg.responseHeader; t > 0 {
		c.NetConn().SetReadDeadline(time.Now().Add(t))
		defer c.NetConn().SetReadDeadline(time.Time{})
	}
	if _, err := c.Reader().Peek(1); err != nil {
		return !errors.Is(err, os.ErrDeadlineExceeded), cl.readFailed(c, err)
	}
	if c.ReadHead(cl.r, cl.w.Header(), &cl.up) {
		return false, nil
	}
	res, err := upstream.ReadResponse(c, cl.r, cl.w)
	if err != nil {
		// An interim response (Node's "100 Continue") may have come
		// before the client's body failed.
		return false, cl.readFailed(c, err)
	}
	cl.up = upstream.Response{Status: res.StatusCode, Length: res.ContentLength, Close: res.Close, Body: res.Body, Res: res}
	return false, nil
}

// readFailed is the error of a request whose response could not be read
// from c: the body writer's, when it failed on the client's side (the
// writer closes c then, which is why the read failed), else err.
func (cl *call) readFailed(c *upstream.Conn, err error) error {
	if cl.wrote == nil {
		return err
	}
	// The writer may be stuck on an instance that reads no more.
	c.Close()
	werr := <-cl.wrote
	cl.wrote = nil
	if errors.As(werr, new(*upstream.BodyError)) {
		return werr
	}
	return err
}

// upgrade completes a 101 response: the client's connection and the
// instance's are joined until either side ends, or the request's context
// does (Close).
func (u *proxy) upgrade(cl *call, b *backend, reqType string) {
	w, r, res := cl.w, cl.r, cl.up.Res
	resType := upgradeType(res.Header)
	if !isPrint(resType) {
		u.fail(w, r, fmt.Errorf("backend tried to switch to invalid protocol %q", resType))
		return
	}
	if !strings.EqualFold(reqType, resType) {
		u.fail(w, r, fmt.Errorf("backend tried to switch protocol %q when %q was requested", resType, reqType))
		return
	}
	if cl.wrote != nil {
		if err := <-cl.wrote; err != nil {
			cl.wrote <- err
			u.fail(w, r, err)
			return
		}
		cl.wrote = nil
	}
	back := cl.c
	// From here the client's connection is the copy's to read: its end
	// is a half-close to pass on, and only the request's context (Close)
	// cuts the two off.
	if cl.fc != nil {
		if !cl.fc.Unwatch(back) {
			return // the client left
		}
		cl.fc = nil
		cl.stop = context.AfterFunc(r.Context(), back.Close)
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		u.fail(w, r, fmt.Errorf("switch protocols: %w", err))
		return
	}
	defer conn.Close()
	h := w.Header()
	for k, vv := range res.Header {
		h[k] = append(h[k], vv...)
	}
	u.stick(h, r, b)
	res.Header = h
	res.Body = nil // res.Write sends the head only
	if err := res.Write(brw); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	errc := make(chan error, 2)
	go func() { // the client to the instance
		_, err := io.Copy(back.NetConn(), brw.Reader)
		if err == nil {
			if cw, ok := back.NetConn().(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite() // the client is done sending; the instance may still answer
			} else {
				err = errCopyDone
			}
		}
		errc <- err
	}()
	go func() { // the instance to the client
		_, err := io.Copy(conn, back.Reader())
		if err == nil {
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			} else {
				err = errCopyDone
			}
		}
		errc <- err
	}()
	// Until either side fails or is done (both when half-closes get
	// through), then close both and wait for the copies.
	err = <-errc
	waiting := 1
	if err == nil {
		err = <-errc
		waiting = 0
	}
	back.Close()
	conn.Close()
	for range waiting {
		<-errc
	}
}

var errCopyDone = errors.New("upgraded connection copy complete")

// fail answers a request that reached no instance, or none that answered.
func (u *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	var bodyErr *upstream.BodyError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w, tooBig.Limit)
	case errors.As(err, &bodyErr):
		u.badRequestBody(w, r, bodyErr)
	case errors.Is(err, errNoBackend):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 Service Unavailable: no instance of "+u.app+" is ready", http.StatusServiceUnavailable)
	case r.Context().Err() != nil, errors.Is(err, errClientGone):
		w.WriteHeader(http.StatusBadGateway) // nobody is left to read it
	default:
		u.log.Warn("proxy error", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
	}
}

// badRequestBody answers a request whose body failed on the client's
// side, before any response: its fault, so a 4xx, and an HTTP/1
// connection closes, since what else it carries cannot be told apart
// from the body (over HTTP/2 the stream ends alone: Connection: close
// would end every stream of the connection). A body that did not come
// in time gets 408; one cut short (the client left) or malformed (its
// chunked framing broken) 400. Only a malformed one is logged, at most
// once per loglimit.Every, since any client can send one.
func (u *proxy) badRequestBody(w http.ResponseWriter, r *http.Request, err *upstream.BodyError) {
	if r.ProtoMajor < 2 {
		w.Header().Set("Connection", "close")
	}
	switch {
	case errors.Is(err, h1.ErrBodyTimeout):
		http.Error(w, "408 Request Timeout: the body did not come in time (body_timeout)", http.StatusRequestTimeout)
	case r.Context().Err() != nil, errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, new(net.Error)):
		// The client left, or the front is closing: nobody may read it.
		http.Error(w, "400 Bad Request: the body ended early", http.StatusBadRequest)
	default:
		if ok, suppressed := u.badBody.Allow(u.now()); ok {
			u.log.Warn("refused a malformed request body", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "err", err, "suppressed", suppressed)
		}
		http.Error(w, "400 Bad Request: malformed request body", http.StatusBadRequest)
	}
}

// replayable says whether req can be sent twice without harm, by
// http.Transport's own rule: an idempotent method (or an Idempotency-Key)
// and no body.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0 {
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

// upgradeType is the protocol a message asks to switch to: its Upgrade
// header, when Connection lists upgrade.
func upgradeType(h http.Header) string {
	if !httpsyntax.ConnectionLists(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

func isPrint(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// appendHead appends the head of the request to an instance: r's method,
// path and Host, its headers less the hop-by-hop ones, the X-Forwarded-*
// headers (forwarded.go), and the body's framing: Content-Length n, or
// chunks when n is -1.
func appendHead(b []byte, r *http.Request, ex *exchange, upType string, n int64, body bool) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	if u := r.URL; r.Method == "CONNECT" && u.Path == "" {
		b = append(b, u.Host...) // authority-form
	} else if u.Opaque == "" {
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		b = append(b, p...)
		if u.ForceQuery || u.RawQuery != "" {
			b = append(b, '?')
			b = appendQuery(b, u.RawQuery)
		}
	} else {
		b = append(b, u.RequestURI()...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	b = appendValue(b, host)
	b = append(b, "\r\n"...)
	conn := r.Header["Connection"]
	te := false
	for k, vv := range r.Header {
		switch k {
		case "Host", "Content-Length", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
			continue
		case "Te":
			for _, v := range vv {
				te = te || transform.ContainsToken(v, "trailers")
			}
			continue
		case "User-Agent":
			// One value, as http.Transport sends it; none when empty.
			if len(vv) > 0 && vv[0] != "" {
				b = appendField(b, k, vv[0])
			}
			continue
		case "Cookie":
			if ex != nil && ex.s.cookies.Renames() {
				h := http.Header{"Cookie": append([]string(nil), vv...)}
				ex.s.cookies.Request(h)
				vv = h["Cookie"]
			}
		}
		if httpsyntax.IsHop(k) || len(conn) > 0 && httpsyntax.ConnectionLists(conn, k) {
			continue
		}
		for _, v := range vv {
			b = appendField(b, k, v)
		}
	}
	if te {
		b = append(b, "Te: trailers\r\n"...)
	}
	if upType != "" {
		b = append(b, "Connection: Upgrade\r\n"...)
		b = appendField(b, "Upgrade", upType)
	}
	b = appendForwarded(b, r, ex)
	switch {
	case body && n < 0:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case body:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, "\r\n"...)
	case r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH":
		b = append(b, "Content-Length: 0\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendQuery appends a raw query with any space escaped: a request
// over HTTP/2 may carry one, which would break the request line.
func appendQuery(b []byte, q string) []byte {
	if strings.IndexByte(q, ' ') < 0 {
		return append(b, q...)
	}
	return append(b, strings.ReplaceAll(q, " ", "%20")...)
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = appendValue(b, v)
	return append(b, "\r\n"...)
}

// appendValue appends a header value with any CR or LF made a space, as
// http.Header.Write does: the server has refused such values from
// clients already, this keeps the edge's own from splitting a head.
func appendValue(b []byte, v string) []byte {
	if !httpsyntax.HasLineBreak(v) {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// hostPort is the client address of r without its port, for
// X-Forwarded-For; "" when RemoteAddr is not host:port.
func hostPort(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}
