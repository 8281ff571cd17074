package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tendhq/tend/internal/api"
)

// A profile (POST /apps/{target}/profile) is too big for a reply: the
// agent takes it through its daemon's API, puts the file in the object
// store bucket ProfileBucket as it arrives, and answers with the object's
// name once it is whole; the control point reads the object and deletes
// it. An object nobody reads (the requester gave up) expires after
// ProfileTTL.
//
// Subject permissions cannot confine a host to objects of its own name:
// the name is one base64 token of the meta subject, and a put reads the
// bucket by direct get, whose subject is in the request's body. A host
// credential may use the bucket (profile.go's names are HOST/...), nothing
// else of JetStream.
const (
	// ProfileTTL is how long an object lives in the bucket.
	ProfileTTL = time.Hour
	// MaxProfile is the largest profile the fleet carries; ProfileBucketMax
	// the most the bucket holds.
	MaxProfile       = 512 << 20
	ProfileBucketMax = 4 << 30
	// profileTimeout bounds a profile request: the longest recording or
	// snapshot, and its transfer.
	profileTimeout = 30 * time.Minute
)

// maxProfile is MaxProfile, less in tests.
var maxProfile int64 = MaxProfile

// profileConfig is the bucket's configuration.
func profileConfig(replicas int) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{Bucket: ProfileBucket, Description: "tend fleet: profiles on their way from a host to the control point",
		TTL: ProfileTTL, MaxBytes: ProfileBucketMax, Storage: jetstream.FileStorage, Replicas: replicas}
}

// profilePath says whether path (below /v1, with its query) asks for a
// profile, and stop whether it stops one early.
func profilePath(path string) (profile, stop bool) {
	p, _, _ := strings.Cut(path, "?")
	if !strings.HasPrefix(p, "/apps/") {
		return false, false
	}
	return strings.HasSuffix(p, "/profile"), strings.HasSuffix(p, "/profile/stop")
}

// serveProfile takes a profile through the daemon's API into the object
// store, one at a time on this host, and answers with the object's name.
func (a *Agent) serveProfile(ctx context.Context, js jetstream.JetStream, req Request) Reply {
	select {
	case a.profiling <- struct{}{}:
		defer func() { <-a.profiling }()
	default:
		return Reply{Status: http.StatusConflict, Body: errorBody("host %s is taking another profile: try again when it ends (one at a time)", a.cfg.Name)}
	}
	ctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://tend"+api.Prefix+req.Path, strings.NewReader(string(req.Body)))
	if err != nil {
		return Reply{Status: http.StatusBadRequest, Body: errorBody("%v", err)}
	}
	hr.Header.Set("Content-Type", "application/json")
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, started: make(chan struct{})}
	done := make(chan struct{})
	// Ends when the daemon's handler returns; waited for below.
	go func() {
		defer close(done)
		a.local.Handler().ServeHTTP(w, hr)
		w.start(http.StatusOK)
		pw.Close()
	}()
	defer func() { pr.Close(); <-done }()
	select {
	case <-w.started:
	case <-done:
	}
	if w.status != http.StatusOK {
		<-done // an error is answered whole
		return Reply{Status: w.status, ContentType: w.header.Get("Content-Type"), Body: w.errBody.Bytes()}
	}
	p, _, _ := strings.Cut(req.Path, "?")
	target := strings.TrimSuffix(strings.TrimPrefix(p, "/apps/"), "/profile")
	if t, err := url.PathUnescape(target); err == nil {
		target = t
	}
	var preq api.ProfileRequest
	_ = json.Unmarshal(req.Body, &preq)
	name := fmt.Sprintf("%s/%s-%d-%s%s", a.cfg.Name, safeObjectName(target), preq.Instance, time.Now().UTC().Format("20060102-150405.000"), api.ProfileExt(preq.Kind))
	rep := Reply{Status: http.StatusOK, Header: map[string]string{api.ProfilePIDHeader: w.header.Get(api.ProfilePIDHeader)}}

	obs, err := js.ObjectStore(ctx, ProfileBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, profileConfig(1))
	}
	if err != nil {
		pr.CloseWithError(err)
		<-done
		return Reply{Status: http.StatusBadGateway, Body: errorBody("host %s: open the profile bucket %s: %v", a.cfg.Name, ProfileBucket, err)}
	}
	lim := &capReader{r: pr, left: maxProfile}
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: name, Description: "profile of " + target + " on " + a.cfg.Name}, lim)
	if err != nil {
		pr.CloseWithError(err) // the daemon stops writing
		<-done
		if lim.over {
			return Reply{Status: http.StatusRequestEntityTooLarge, Body: errorBody("the profile is more than %d MiB, more than the fleet carries: take it on host %s", maxProfile>>20, a.cfg.Name)}
		}
		return Reply{Status: http.StatusBadGateway, Body: errorBody("host %s: store the profile: %v", a.cfg.Name, err)}
	}
	<-done
	for _, k := range []string{api.ProfileErrorTrailer, api.ProfileWarningTrailer} {
		if v := w.header.Get(k); v != "" {
			if rep.Trailer == nil {
				rep.Trailer = map[string]string{}
			}
			rep.Trailer[k] = v
		}
	}
	if rep.Trailer[api.ProfileErrorTrailer] != "" {
		// Half a profile is no use to anyone.
		_ = obs.Delete(context.WithoutCancel(ctx), name)
		return rep
	}
	rep.Object = name
	return rep
}

// safeObjectName turns a target ("ns/app") into a part of an object name.
func safeObjectName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == '%' || c < ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

// pipeWriter is the http.ResponseWriter of a profile taken in-process: a
// 200's body goes through the pipe to the object store, an error's is
// kept whole.
type pipeWriter struct {
	header  http.Header
	pw      *io.PipeWriter
	once    sync.Once
	started chan struct{} // closed once the status is known
	status  int           // set before started is closed
	errBody bytes.Buffer
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) start(code int) {
	w.once.Do(func() {
		w.status = code
		close(w.started)
	})
}

func (w *pipeWriter) WriteHeader(code int) { w.start(code) }

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	if w.status != http.StatusOK {
		if w.errBody.Len()+len(b) > MaxReply {
			return 0, errors.New("error answer too long")
		}
		return w.errBody.Write(b)
	}
	return w.pw.Write(b)
}

// FlushError is what http.ResponseController.Flush calls: the pipe has no
// buffer.
func (w *pipeWriter) FlushError() error { return nil }

// capReader reads r until it has given left bytes, then fails.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.over = true
		return 0, fmt.Errorf("more than %d bytes", maxProfile)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// roundTripProfile sends a profile request and answers with a body that
// reads the object the agent stored, and deletes it when closed.
func (t transport) roundTripProfile(ctx context.Context, r *http.Request, req Request) (*http.Response, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, profileTimeout)
		defer cancel()
	}
	// A read-only credential may profile, as a read-only token may.
	m, err := t.request(ctx, RequestSubject(t.host, false), data)
	if err != nil {
		return nil, err
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("host %s: bad answer: %w", t.host, err)
	}
	resp := response(rep, io.NopCloser(strings.NewReader(string(rep.Body))))
	resp.Request = r
	for k, v := range rep.Header {
		resp.Header.Set(k, v)
	}
	resp.Trailer = http.Header{}
	for k, v := range rep.Trailer {
		resp.Trailer.Set(k, v)
	}
	if rep.Status != http.StatusOK || rep.Object == "" {
		return resp, nil
	}
	if !strings.HasPrefix(rep.Object, t.host+"/") {
		return nil, fmt.Errorf("host %s answered with object %q, not one of its own", t.host, rep.Object)
	}
	obs, err := t.c.js.ObjectStore(ctx, ProfileBucket)
	if err != nil {
		return nil, fmt.Errorf("open the profile bucket %s: %w", ProfileBucket, err)
	}
	res, err := obs.Get(context.WithoutCancel(ctx), rep.Object)
	if err != nil {
		return nil, fmt.Errorf("read the profile %s from the hub: %w", rep.Object, err)
	}
	info, err := res.Info()
	if err == nil {
		resp.ContentLength = int64(info.Size)
	}
	resp.Body = &objectBody{res: res, del: func() error {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return obs.Delete(dctx, rep.Object)
	}}
	return resp, nil
}

// objectBody reads an object, and deletes it once closed.
type objectBody struct {
	res  jetstream.ObjectResult
	del  func() error
	once sync.Once
}

func (b *objectBody) Read(p []byte) (int, error) { return b.res.Read(p) }

func (b *objectBody) Close() error {
	err := b.res.Close()
	b.once.Do(func() {
		if derr := b.del(); derr != nil && err == nil {
			err = fmt.Errorf("delete the profile from the hub (it expires in %s): %w", ProfileTTL, derr)
		}
	})
	return err
}

// profileObjects counts the objects in the profile bucket (tests).
func (c *Control) profileObjects(ctx context.Context) (int, error) {
	obs, err := c.js.ObjectStore(ctx, ProfileBucket)
	if err != nil {
		return 0, err
	}
	list, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	return len(list), err
}
