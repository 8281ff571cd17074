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
	"regexp"
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

// nameRE is what a host name may be: it is a subject token and a KV key.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$`)

// CheckName says why name cannot name a host, or nil.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("host name %q: want 1 to 64 lowercase letters, digits, - and _ (starting and ending with a letter or digit)", name)
	}
	return nil
}

// labelRE is what a label's key or value may be.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`)

// CheckLabels says why labels cannot label a host, or nil.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels: at most %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if !labelRE.MatchString(k) {
			return fmt.Errorf("label %q: want letters, digits, '.', '-' and '_' (up to 64)", k)
		}
		if !labelRE.MatchString(v) {
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
