package fleet

import (
	"encoding/json"
	"time"
)

// Status is what an agent writes under its name in the status bucket,
// every StatusEvery and whenever its apps change.
type Status struct {
	Host    string            `json:"host"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
	Time    time.Time         `json:"time"`
	Facts   Facts             `json:"facts"`
	// CPUPercent and MemoryBytes are the sums over the host's apps.
	CPUPercent  float64     `json:"cpu_percent"`
	MemoryBytes uint64      `json:"memory_bytes"`
	Apps        []AppStatus `json:"apps"`
	// Desired is how far the host is with its desired state.
	Desired Convergence `json:"desired"`
}

// Facts are the host's own figures.
type Facts struct {
	Hostname       string  `json:"hostname"`
	OS             string  `json:"os"`
	Arch           string  `json:"arch"`
	CPUs           int     `json:"cpus"`
	MemTotal       uint64  `json:"mem_total"`
	MemAvailable   uint64  `json:"mem_available"`
	Load1          float64 `json:"load1"`
	DaemonUptimeMS int64   `json:"daemon_uptime_ms"`
}

// AppStatus is one app of a host, in short.
type AppStatus struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Status    string `json:"status"`
	Port      int    `json:"port,omitempty"`
	// Instances is how many the app has, Online how many of them are
	// online.
	Instances   int     `json:"instances"`
	Online      int     `json:"online"`
	Restarts    int     `json:"restarts"`
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryBytes uint64  `json:"memory_bytes"`
	// Fleet says the fleet placed the app (it is in the desired state).
	Fleet bool `json:"fleet,omitempty"`
}

// Convergence is the outcome of the agent's last reconcile.
type Convergence struct {
	// Revision is the desired state's revision last applied without error
	// (0: none yet).
	Revision uint64 `json:"revision"`
	// Tried is the revision last tried; Error why it failed.
	Tried uint64    `json:"tried,omitempty"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at,omitzero"`
	// Steps are the plan steps that changed something, as text.
	Steps []string `json:"steps,omitempty"`
}

// Heartbeat is what an agent writes every HeartbeatEvery.
type Heartbeat struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
}

// Desired is a host's desired state: the apps the fleet places on it,
// each an app's JSON form as POST /v1/apply takes it.
type Desired struct {
	Apps []json.RawMessage `json:"apps"`
	// File is the fleet file it came from, and Time when it was written.
	File string    `json:"file,omitempty"`
	Time time.Time `json:"time"`
}

// Request is a control API request sent to a host: the method, the path
// below /v1 with its query, and the JSON body. The host's agent serves it
// with its daemon's own API, so the answer is what that API answers.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
	// Stream, for a request that follows (logs -f), is the subject the
	// answer's body is streamed to (stream.go).
	Stream string `json:"stream,omitempty"`
}

// Reply is the answer to a Request: the HTTP status and body.
type Reply struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
	// Object, for a profile, names the object in ProfileBucket that holds
	// the body; Header and Trailer are the answer's own (profile.go).
	Object  string            `json:"object,omitempty"`
	Header  map[string]string `json:"header,omitempty"`
	Trailer map[string]string `json:"trailer,omitempty"`
}

// MaxReply is the largest answer an agent sends (a NATS message carries at
// most 1 MiB by default).
const MaxReply = 900 << 10
