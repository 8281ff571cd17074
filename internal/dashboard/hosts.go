package dashboard

import (
	"context"
	"time"
)

// HostView is one host of the fleet as the Hosts page lists it.
type HostView struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Alive says its heartbeat is fresh; a host that is not is lost.
	Alive    bool      `json:"alive"`
	LastSeen time.Time `json:"last_seen"`
	Version  string    `json:"version"`
	// CPU and Memory are the sums over its apps, as tend ls adds them.
	CPU    float64   `json:"cpu"`
	Memory uint64    `json:"memory"`
	Apps   []HostApp `json:"apps"`
}

// HostApp is one app of a host, in short.
type HostApp struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Status    string `json:"status"`
	Online    int    `json:"online"`
	Total     int    `json:"total"`
}

// hostsTimeout bounds one read of the fleet's hosts.
const hostsTimeout = 2 * time.Second

// hosts reads the fleet's hosts for a tick: nil and "" without a fleet
// view here; the error's text when the read failed.
func (s *Server) hosts(ctx context.Context) ([]HostView, string) {
	if s.cfg.Hosts == nil {
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(ctx, hostsTimeout)
	defer cancel()
	hs, err := s.cfg.Hosts(ctx)
	if err != nil {
		return nil, err.Error()
	}
	if hs == nil {
		hs = []HostView{}
	}
	return hs, ""
}
