package dashboard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tendhq/tend/internal/remote"
)

// Handed is what a dashboard hands to the next daemon's across an update
// in place (tend update), with its listening socket: its sessions and
// login links (by the hashes of their secrets), so that nobody is logged
// out, and the charts' hour of figures.
type Handed struct {
	Sessions []HandedSession      `json:"sessions,omitempty"`
	Links    map[string]time.Time `json:"links,omitempty"`
	// Points is the rings' size: the history is taken up only at the
	// same interval.
	Points  int          `json:"points"`
	History []HandedRing `json:"history,omitempty"`
}

// HandedSession is a session, keyed by the hash of its cookie's value.
type HandedSession struct {
	Key     string       `json:"key"`
	CSRF    string       `json:"csrf"`
	Scope   remote.Scope `json:"scope"`
	Who     string       `json:"who"`
	Expires time.Time    `json:"expires"`
	Token   string       `json:"token,omitempty"`
}

// HandedRing is an app's history: its points oldest first, each a uint32
// time in seconds and the series' float32 values, little-endian.
type HandedRing struct {
	App      int       `json:"app"`
	Points   []byte    `json:"points"`
	Last5xx  uint64    `json:"last_5xx"`
	LastAt   time.Time `json:"last_at"`
	Restarts int       `json:"restarts"`
}

const pointBytes = 4 + nSeries*4

func (r *ring) encode() []byte {
	ts, vals := r.since(time.Unix(0, 0))
	b := make([]byte, 0, len(ts)*pointBytes)
	for i, t := range ts {
		b = binary.LittleEndian.AppendUint32(b, t)
		for s := range vals {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(vals[s][i]))
		}
	}
	return b
}

// decodeRing makes a ring of points from what encode wrote.
func decodeRing(points int, b []byte) (*ring, error) {
	if len(b)%pointBytes != 0 {
		return nil, fmt.Errorf("%d bytes of history are not whole points", len(b))
	}
	r := newRing(points)
	for off := max(0, len(b)-points*pointBytes); off < len(b); off += pointBytes {
		var vals [nSeries]float32
		for s := range vals {
			vals[s] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4+4*s:]))
		}
		r.add(time.Unix(int64(binary.LittleEndian.Uint32(b[off:])), 0), vals)
	}
	return r, nil
}

// Handover stops serving (the pages' streams end; their browsers
// reconnect to the next daemon) and returns a duplicate of the listening
// socket, which stays open, and what the next dashboard resumes from
// (Config.Resume). The Server is closed after it.
func (s *Server) Handover(ctx context.Context) (*os.File, *Handed, error) {
	fl, ok := s.rawLn.(interface{ File() (*os.File, error) })
	if !ok {
		s.Close()
		return nil, nil, fmt.Errorf("a %T cannot be handed over", s.rawLn)
	}
	f, err := fl.File()
	s.endStreams()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(sctx)
	_ = s.srv.Close()
	<-s.served
	s.stopCollect()
	if err != nil {
		return nil, nil, err
	}
	h := &Handed{Points: s.hist.points, Links: map[string]time.Time{}}
	now := s.cfg.Now()
	s.sess.mu.Lock()
	for key, ss := range s.sess.byID {
		if now.Before(ss.expires) {
			h.Sessions = append(h.Sessions, HandedSession{Key: key, CSRF: ss.csrf, Scope: ss.scope, Who: ss.who, Expires: ss.expires, Token: ss.token})
		}
	}
	for key, exp := range s.sess.links {
		if now.Before(exp) {
			h.Links[key] = exp
		}
	}
	s.sess.mu.Unlock()
	s.hist.mu.Lock()
	for id, r := range s.hist.rings {
		h.History = append(h.History, HandedRing{App: id, Points: r.encode(), Last5xx: r.last5xx, LastAt: r.lastAt, Restarts: r.restarts})
	}
	s.hist.mu.Unlock()
	return f, h, nil
}

// resume takes up what the dashboard before an update handed over.
func (s *Server) resume(h *Handed) error {
	now := s.cfg.Now()
	s.sess.mu.Lock()
	for _, hs := range h.Sessions[:min(len(h.Sessions), maxSessions)] {
		if now.Before(hs.Expires) && (hs.Scope == remote.Operator || hs.Scope == remote.ReadOnly) {
			s.sess.byID[hs.Key] = &session{csrf: hs.CSRF, scope: hs.Scope, who: hs.Who, expires: hs.Expires, token: hs.Token}
		}
	}
	for key, exp := range h.Links {
		if len(s.sess.links) < maxLinks && now.Before(exp) {
			s.sess.links[key] = exp
		}
	}
	s.sess.mu.Unlock()
	if h.Points != s.hist.points {
		return fmt.Errorf("the charts' history was kept at another interval (%d points an hour, now %d): it starts again", h.Points, s.hist.points)
	}
	var errs []error
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	for _, hr := range h.History {
		r, err := decodeRing(s.hist.points, hr.Points)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %d: %w", hr.App, err))
			continue
		}
		r.last5xx, r.lastAt, r.restarts = hr.Last5xx, hr.LastAt, hr.Restarts
		s.hist.rings[hr.App] = r
	}
	return errors.Join(errs...)
}
