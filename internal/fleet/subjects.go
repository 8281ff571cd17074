// Package fleet joins tend daemons into a fleet on NATS JetStream. The hub
// is a nats-server with JetStream (embedded by tend hub, or any NATS
// cluster); agents are daemons that write their status and heartbeat to KV
// buckets, read their desired state from another and answer requests on a
// subject of their own; the control point (tend hosts, tend apply with a
// fleet file, tend --host) reads and writes the same buckets.
//
// Everything between them is a subject, so that what a credential may do
// is a subject permission (Permissions): an agent writes only its own
// status and heartbeat keys and reads only its own desired state.
//
//	KV tend_status     key HOST: Status, written by HOST's agent
//	KV tend_heartbeat  key HOST: Heartbeat, every second; the bucket's TTL
//	                   expires a silent host's key (JetStream marks it)
//	KV tend_desired    key HOST: Desired, written by the control point;
//	                   once stored, republished on tend.desired.HOST with
//	                   its revision (Nats-Sequence), which HOST's agent
//	                   follows
//	tend.req.HOST.read   requests that read (GET) to HOST's control API
//	tend.req.HOST.write  requests that change what runs on HOST
//	OBJ tend_profiles  object HOST/APP-INSTANCE-TIME.EXT: a profile HOST's
//	                   agent took, read and deleted by the control point
//	                   that asked (profile.go)
package fleet

import (
	"fmt"
	"strings"
	"time"
)

// The buckets of a fleet.
const (
	StatusBucket    = "tend_status"
	HeartbeatBucket = "tend_heartbeat"
	DesiredBucket   = "tend_desired"
	ProfileBucket   = "tend_profiles"
)

// HeartbeatEvery is how often an agent heartbeats; HeartbeatTTL is how long
// a heartbeat key lives: a host silent that long is lost.
const (
	HeartbeatEvery = time.Second
	HeartbeatTTL   = 3 * time.Second
)

// MaxHosts is the most hosts a fleet file may place apps on, and MaxLabels
// the most labels one host may carry.
const (
	MaxHosts  = 10000
	MaxLabels = 64
)

// token says whether s is 1 to 64 bytes of which every one is alnum's or
// (not first or last) inner's: a subject token and a KV key. Written out
// rather than as a regexp, whose bounded repetition compiled at package
// init cost every tend command most of a millisecond.
func token(s string, alnum func(byte) bool, inner string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !alnum(c) && (i == 0 || i == len(s)-1 || strings.IndexByte(inner, c) < 0) {
			return false
		}
	}
	return true
}

func lowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func alnum(c byte) bool { return lowerAlnum(c) || 'A' <= c && c <= 'Z' }

// CheckName says why name cannot name a host, or nil: it is a subject
// token and a KV key.
func CheckName(name string) error {
	if !token(name, lowerAlnum, "_-") {
		return fmt.Errorf("host name %q: want 1 to 64 lowercase letters, digits, - and _ (starting and ending with a letter or digit)", name)
	}
	return nil
}

// CheckLabels says why labels cannot label a host, or nil.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels: at most %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if !token(k, alnum, "._-") {
			return fmt.Errorf("label %q: want letters, digits, '.', '-' and '_' (up to 64)", k)
		}
		if !token(v, alnum, "._-") {
			return fmt.Errorf("label %s=%q: want letters, digits, '.', '-' and '_' (up to 64)", k, v)
		}
	}
	return nil
}

func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// RequestSubject is where host answers requests; write says whether the
// request may change what runs.
func RequestSubject(host string, write bool) string {
	if write {
		return "tend.req." + host + ".write"
	}
	return "tend.req." + host + ".read"
}

// inboxPrefix is the inbox prefix of host's agent: its replies (publish
// acknowledgements, direct gets) come there and nowhere another host reads.
func inboxPrefix(host string) string { return "_INBOX_" + host }

// directGetSubject asks the last value of key in bucket (a KV get).
func directGetSubject(bucket, key string) string {
	return "$JS.API.DIRECT.GET.KV_" + bucket + "." + kvSubject(bucket, key)
}

// desiredNotice is where the desired bucket republishes host's key once
// stored (a KV get right after the write could still miss it).
func desiredNotice(host string) string { return "tend.desired." + host }
