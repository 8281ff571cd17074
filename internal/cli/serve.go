package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/edge/static"
	"github.com/tendhq/tend/internal/spec"
)

// serveArg is the hidden first argument with which tend runs itself as the
// static file server of `tend serve`: `tend __serve DIR [--spa]`.
const serveArg = "__serve"

func newServe(e *env) *cobra.Command {
	var port int
	var name string
	var spa bool
	cmd := &cobra.Command{
		Use:   "serve [dir] [port]",
		Short: "Serve a directory of static files as an app, behind the edge (PM2's serve)",
		Long: `Serve a directory's files on a port, with the edge's TLS, compression, security
headers, ETag and range support; no directory traversal; --spa answers unknown paths
with index.html for single-page apps. It runs as an app like any other: tend ls,
stop, delete, and tend set <name> edge.tls.cert=... apply.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) > 0 {
				dir = args[0]
			}
			if len(args) > 1 {
				p, err := strconv.Atoi(args[1])
				if err != nil {
					return fmt.Errorf("port %q: want a number", args[1])
				}
				port = p
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if st, err := os.Stat(abs); err != nil || !st.IsDir() {
				return fmt.Errorf("%s is not a directory", dir)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if name == "" {
				name = "static-" + strconv.Itoa(port)
			}
			sargs := []any{serveArg, abs}
			if spa {
				sargs = append(sargs, "--spa")
			}
			a, w, err := spec.Decode(map[string]any{
				"name": name, "script": self, "interpreter": "none", "args": sargs,
				"port": port, "cwd": abs,
			}, spec.DecodeOptions{BaseDir: abs})
			printWarnings(e, w)
			if err != nil {
				return flagError(cmd, err)
			}
			b, err := json.Marshal(a)
			if err != nil {
				return err
			}
			c, err := e.connect(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.Start(cmd.Context(), api.StartRequest{Apps: []json.RawMessage{b}, Env: callerEnv()}); err != nil {
				return friendly(err)
			}
			fmt.Fprintf(e.stdout, "serving %s on http://localhost:%d as app %s\n", abs, port, name)
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 8080, "public port")
	cmd.Flags().StringVar(&name, "name", "", "app name (default static-PORT)")
	cmd.Flags().BoolVar(&spa, "spa", false, "answer unknown paths with index.html")
	return cmd
}

// serveFiles is the process behind `tend serve`: a plain file server on
// PORT; the edge in front adds TLS, compression and headers.
func serveFiles(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "tend: usage: tend "+serveArg+" DIR [--spa]")
		return 2
	}
	spa := len(args) > 1 && args[1] == "--spa"
	port := os.Getenv("PORT")
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tend serve: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: static.ServeDir(args[0], spa), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("serving %s on 127.0.0.1:%s\n", args[0], port)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "tend serve: %v\n", err)
		return 1
	}
	return 0
}
