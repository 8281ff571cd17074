package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tendhq/tend/internal/api"
)

// Upload is a request body sent as it is rather than as JSON: a release
// archive of Size bytes (-1: unknown) with its headers.
type Upload struct {
	Body        io.Reader
	Size        int64
	ContentType string
	Header      http.Header
}

func (u *Upload) prepare(req *http.Request) {
	req.ContentLength = u.Size
	if u.Size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", u.ContentType)
	for k, vs := range u.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// DeployRequest is a release archive to install (POST /v1/releases).
type DeployRequest struct {
	Archive io.Reader
	Size    int64
	SHA256  string // the archive's, as the client computed it
	App     string // "": the archive's
	By      string // who deploys: the client's user
	// PostDeploy, with SetPostDeploy, replaces the app's post_deploy.
	PostDeploy    string
	SetPostDeploy bool
}

// Deploy sends a release archive and calls fn with each line of progress
// until the daemon says the deploy is done (the release) or failed (the
// error).
func (c *Client) Deploy(ctx context.Context, r DeployRequest, fn func(api.DeployEvent)) (api.Release, error) {
	h := http.Header{}
	if r.App != "" {
		h.Set(api.DeployAppHeader, r.App)
	}
	if r.By != "" {
		h.Set(api.DeployByHeader, r.By)
	}
	if r.SHA256 != "" {
		h.Set(api.DeploySHA256Header, r.SHA256)
	}
	if r.SetPostDeploy {
		h.Set(api.DeployPostHeader, r.PostDeploy)
	}
	resp, err := c.send(ctx, http.MethodPost, "/releases", &Upload{Body: r.Archive, Size: r.Size, ContentType: "application/gzip", Header: h})
	if err != nil {
		return api.Release{}, err
	}
	return readDeploy(resp, fn)
}

// Rollback makes an earlier release of app current again, with progress
// as Deploy.
func (c *Client) Rollback(ctx context.Context, app string, req api.RollbackRequest, fn func(api.DeployEvent)) (api.Release, error) {
	resp, err := c.send(ctx, http.MethodPost, "/releases/"+url.PathEscape(app)+"/rollback", req)
	if err != nil {
		return api.Release{}, err
	}
	return readDeploy(resp, fn)
}

// Releases lists app's releases on the daemon's host, oldest first.
func (c *Client) Releases(ctx context.Context, app string) ([]api.Release, error) {
	var out []api.Release
	err := c.do(ctx, http.MethodGet, "/releases/"+url.PathEscape(app), nil, &out)
	return out, err
}

// readDeploy reads a deploy's event stream to its end.
func readDeploy(resp *http.Response, fn func(api.DeployEvent)) (api.Release, error) {
	defer resp.Body.Close()
	var (
		rel  api.Release
		done = errors.New("done")
	)
	err := readSSE(resp.Body, func(e api.DeployEvent) error {
		switch e.Kind {
		case api.DeployDone:
			if e.Release == nil {
				return errors.New("the daemon ended the deploy without its release")
			}
			rel = *e.Release
			return done
		case api.DeployError:
			return errors.New(e.Text)
		}
		if fn != nil {
			fn(e)
		}
		return nil
	})
	switch se := (*streamError)(nil); {
	case err == done:
		return rel, nil
	case errors.As(err, &se):
		return api.Release{}, fmt.Errorf("read the deploy's progress: %w", se.err)
	case err != nil:
		return api.Release{}, err
	}
	return api.Release{}, errors.New("the daemon ended the deploy's answer before saying how it went: see `tend releases` and tend.log")
}
