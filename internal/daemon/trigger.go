package daemon

import (
	"errors"
	"net/http"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/app"
)

const (
	defaultTriggerTimeout = 10 * time.Second
	maxTriggerTimeout     = 5 * time.Minute
	maxTriggerParam       = 64 << 10
)

// trigger handles POST /v1/apps/{target}/trigger: it calls an action the
// instances of the target's apps offer (@pm2/io, tx2) and answers every
// instance's reply, as `pm2 trigger` prints them.
func (d *Daemon) trigger(r *http.Request) (any, error) {
	var req api.TriggerRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	switch {
	case req.Action == "" || len(req.Action) > 128:
		return nil, badRequest("action: want the name of an action, 1 to 128 bytes")
	case req.Param != nil && len(*req.Param) > maxTriggerParam:
		return nil, badRequest("param: %d bytes, at most %d", len(*req.Param), maxTriggerParam)
	case req.Instance != nil && *req.Instance < 0:
		return nil, badRequest("instance %d: want 0 or more", *req.Instance)
	case req.TimeoutMS == 0:
		timeout = defaultTriggerTimeout
	case req.TimeoutMS < 0 || timeout > maxTriggerTimeout:
		return nil, badRequest("timeout %s: want more than 0 and at most %s", timeout, maxTriggerTimeout)
	}
	entries, err := d.match(r.PathValue("target"))
	if err != nil {
		return nil, err
	}
	index := -1
	if req.Instance != nil {
		if len(entries) != 1 {
			return nil, badRequest("--instance takes one app; %q matches %d", r.PathValue("target"), len(entries))
		}
		index = *req.Instance
	}
	out := []api.TriggerReply{}
	var missing []error
	for _, e := range entries {
		replies, err := e.app.Trigger(r.Context(), req.Action, req.Param, index, timeout)
		switch {
		case errors.Is(err, app.ErrNoAction) && len(entries) > 1:
			missing = append(missing, err)
		case errors.Is(err, app.ErrNoAction), errors.Is(err, app.ErrNoInstance):
			return nil, &httpError{http.StatusNotFound, err.Error()}
		case err != nil:
			return nil, err
		}
		out = append(out, replies...)
	}
	if len(out) == 0 && len(missing) > 0 {
		return nil, &httpError{http.StatusNotFound, errors.Join(missing...).Error()}
	}
	return out, nil
}
