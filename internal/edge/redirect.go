package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// redirector is the plain-HTTP listener of redirect_http: every request
// gets a 308 to the same URL over HTTPS (308, unlike 301, keeps a POST a
// POST). Its goroutine is started by listenRedirect and ends with close.
type redirector struct {
	port   int
	srv    *http.Server
	served chan struct{}
}

// listenRedirect binds port on host (the host of the front's address) and
// redirects to httpsPort.
func listenRedirect(host string, port int, httpsPort string, o *edgeconf.Options, log *slog.Logger) (*redirector, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("redirect_http: %s is already in use by another process: %w", addr, err)
		}
		return nil, fmt.Errorf("redirect_http: listen on %s: %w", addr, err)
	}
	suffix := ""
	if httpsPort != "443" {
		suffix = ":" + httpsPort
	}
	rd := &redirector{port: port, served: make(chan struct{})}
	rd.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.Trim(host, "[]")
			if strings.Contains(host, ":") {
				host = "[" + host + "]" // an IPv6 address
			}
			if host == "" {
				http.Error(w, "400 Bad Request: no Host to redirect to", http.StatusBadRequest)
				return
			}
			w.Header().Set("Location", "https://"+host+suffix+r.URL.RequestURI())
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusPermanentRedirect)
		}),
		ReadHeaderTimeout: o.ReadHeaderTimeout.D(),
		IdleTimeout:       o.IdleTimeout.D(),
		MaxHeaderBytes:    int(o.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(rd.served)
		if err := rd.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("redirect listener stopped", "addr", addr, "err", err)
		}
	}()
	return rd, nil
}

// close stops the redirector and waits for its goroutine. Redirects are
// answered at once, so nothing is left to wait for.
func (rd *redirector) close() {
	if rd == nil {
		return
	}
	rd.srv.Close()
	<-rd.served
}
