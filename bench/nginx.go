package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// nginxConf balances one loopback port over the upstream ports the way a
// production nginx in front of Node is set up: least connections (tend's
// default too), keep-alive to the upstreams, the usual forwarding headers
// (tend's edge sets them as well), no access log (neither does tend's edge
// by default). Every file nginx writes stays under the prefix directory.
// nginxPrologue is the part of every configuration here that keeps nginx
// in the foreground and every file it writes under the prefix (%[1]s).
const nginxPrologue = `daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log stderr warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
`

const nginxConf = nginxPrologue + `    upstream app {
        least_conn;
%[3]s        keepalive 64;
    }
    server {
        listen 127.0.0.1:%[2]d;
        location / {
` + nginxProxy + `        }
    }
}
`

// nginxProxy is how every configuration here passes a request to the
// upstreams: HTTP/1.1 keep-alive, the Host, the forwarding headers.
const nginxProxy = `            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
`

// startNginx writes the configuration into dir and runs nginx in the
// foreground as a child, checking the configuration first so that a
// mistake reads as nginx's own message.
func startNginx(ctx context.Context, bin, dir string, env []string, port int, upstreams []int) (*child, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, p := range upstreams {
		fmt.Fprintf(&servers, "        server 127.0.0.1:%d;\n", p)
	}
	return runNginx(ctx, bin, dir, env, fmt.Sprintf(nginxConf, dir, port, servers.String()))
}

// runNginx writes text as dir/nginx.conf and runs nginx on it, in the
// foreground, as a child.
func runNginx(ctx context.Context, bin, dir string, env []string, text string) (*child, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	// -e stderr: the error log nginx opens before it reads the
	// configuration, which would otherwise be /var/log/nginx/error.log.
	args := []string{bin, "-p", dir + "/", "-c", conf, "-e", "stderr"}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(tctx, bin, append(args[1:], "-t")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return spawn("nginx", dir, env, args...)
}
