package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

const (
	// edgePath answers 10,000 bytes of text: compressible, over the 1 KiB
	// both sides compress from.
	edgePath = "/big"
	// edgeGzipLevel is tend's gzip level (internal/edge/transform/compress.go), given
	// to nginx too so that both do the same compression work; nginx's
	// default is 1.
	edgeGzipLevel = 5
	edgeApp       = "web-edge"
	sysEdgeTend   = "tend edge"
	sysEdgeNginx  = "nginx"
)

// edgeHeaders are the headers tend's edge adds by default over TLS, in a
// stable order for nginx's configuration: taken from the edge itself, so the
// two sides can never drift apart.
var edgeHeaders = func() [][2]string {
	h := edgeconf.SecurityHeaders()
	out := make([][2]string, 0, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		out = append(out, [2]string{name, h[name]})
	}
	return out
}()

// nginxEdgeConf is nginxConf's balancing with what tend's edge does on top:
// TLS 1.2 and 1.3 with HTTP/2, gzip of text from 1 KiB, and the security
// headers, on every status (always).
const nginxEdgeConf = nginxPrologue + `    gzip on;
    gzip_comp_level %[6]d;
    gzip_min_length 1024;
    gzip_proxied any;
    gzip_vary on;
    gzip_types text/plain text/css text/javascript application/javascript application/json application/xml image/svg+xml;
    upstream app {
        least_conn;
%[3]s        keepalive 64;
    }
    server {
        listen 127.0.0.1:%[2]d ssl http2;
        ssl_certificate %[4]s;
        ssl_certificate_key %[5]s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
%[7]s        location / {
` + nginxProxy + `            proxy_hide_header X-Powered-By;
        }
    }
}
`

// edgeSection compares tend's edge with TLS, compression and security
// headers against nginx configured for the same, both over two instances
// of the Express fixture, with wrk over https asking for gzip.
func (b *bench) edgeSection(ctx context.Context) (result, error) {
	if b.wrk == "" || b.nginx == "" {
		logf("edge: skipped, wrk or nginx is missing (%s)", installHint)
		var r result
		r.add(skipped("edge: every figure", "wrk and nginx"))
		return r, nil
	}
	dir := filepath.Join(b.tmp, "edge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := selfSigned(cert, key); err != nil {
		return result{}, err
	}

	var children []*child
	defer func() {
		for _, c := range children {
			if err := c.stop(stopGrace); err != nil {
				logf("edge: %v", err)
			}
		}
	}()

	tendPort, err := freePort()
	if err != nil {
		return result{}, err
	}
	eco := filepath.Join(dir, "tend.yaml")
	ecoText := fmt.Sprintf("apps:\n  - name: %s\n    script: %s\n    instances: %d\n    port: %d\n    edge:\n      tls: {cert: %s, key: %s}\n",
		edgeApp, filepath.Join(b.root, expressScript), clusterInstances, tendPort, cert, key)
	if err := os.WriteFile(eco, []byte(ecoText), 0o644); err != nil {
		return result{}, err
	}
	logf("edge: %s on https://127.0.0.1:%d", sysEdgeTend, tendPort)
	if _, err := b.tend.run(ctx, nil, "start", eco); err != nil {
		return result{}, err
	}

	var upstreams []int
	for range clusterInstances {
		p, err := freePort()
		if err != nil {
			return result{}, err
		}
		c, err := spawn("node", b.root, append(slices.Clone(b.env), "PORT="+strconv.Itoa(p)), b.node, expressScript)
		if err != nil {
			return result{}, err
		}
		children = append(children, c)
		if _, _, err := waitServing(ctx, p, func(int) bool { return true }, c.exited); err != nil {
			return result{}, fmt.Errorf("bare node on %d: %w: %s", p, err, c.output())
		}
		upstreams = append(upstreams, p)
	}
	nginxPort, err := freePort()
	if err != nil {
		return result{}, err
	}
	logf("edge: nginx on https://127.0.0.1:%d over %v", nginxPort, upstreams)
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return result{}, err
	}
	var servers, headers strings.Builder
	for _, p := range upstreams {
		fmt.Fprintf(&servers, "        server 127.0.0.1:%d;\n", p)
	}
	for _, h := range edgeHeaders {
		fmt.Fprintf(&headers, "        add_header %s \"%s\" always;\n", h[0], h[1])
	}
	nc, err := runNginx(ctx, b.nginx, ndir, b.env,
		fmt.Sprintf(nginxEdgeConf, ndir, nginxPort, servers.String(), cert, key, edgeGzipLevel, headers.String()))
	if err != nil {
		return result{}, err
	}
	children = append(children, nc)

	if err := waitOnline(ctx, b.tend, map[string]int{edgeApp: clusterInstances}, onlineTimeout); err != nil {
		return result{}, err
	}
	pid, err := b.tend.daemonPID(ctx)
	if err != nil {
		return result{}, err
	}
	systems := []*system{
		{name: sysEdgeTend, port: tendPort, pids: func() ([]int, error) { return []int{pid}, nil }},
		{name: sysEdgeNginx, port: nginxPort, pids: withChildren(nc.cmd.Process.Pid)},
	}
	for _, s := range systems {
		if err := checkEdge(ctx, s.port); err != nil {
			return result{}, fmt.Errorf("%s: %w", s.name, err)
		}
	}

	logf("edge: wrk -t%d -c%d -H 'Accept-Encoding: gzip' over https, %d runs of %s per system, interleaved", wrkThreads, wrkConns, b.o.loadRuns, b.o.duration)
	load := map[string][]wrkResult{}
	err = b.interleave(len(systems), func(round, i int, d time.Duration) error {
		s := systems[i]
		r, err := withCPU(s.pids, func() (wrkResult, error) {
			return runWrk(ctx, b.wrk, fmt.Sprintf("https://127.0.0.1:%d%s", s.port, edgePath), b.env, d, "-H", "Accept-Encoding: gzip")
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		logf("edge run %d, %s: %s", round, s.name, r)
		if round > 0 {
			load[s.name] = append(load[s.name], r)
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	if err := b.tend.remove(ctx, edgeApp); err != nil {
		return result{}, err
	}
	return edgeResult(load), nil
}

// checkEdge asks port for edgePath over TLS once, as wrk will, and checks
// that the answer is what both sides are meant to send: 200, gzip, every
// security header with its value, the body whole.
func checkEdge(ctx context.Context, port int) error {
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, servingTimeout)
	defer cancel()
	var lastErr error
	for {
		lastErr = func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", port, edgePath), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
				return fmt.Errorf("Content-Encoding %q, want gzip", ce)
			}
			for _, h := range edgeHeaders {
				if v := resp.Header.Get(h[0]); v != h[1] {
					return fmt.Errorf("%s %q, want %q", h[0], v, h[1])
				}
			}
			logf("edge: 127.0.0.1:%d: %s, %s, gzip, %d bytes on the wire, every security header", port, resp.Proto, tls.CipherSuiteName(resp.TLS.CipherSuite), len(body))
			return nil
		}()
		if lastErr == nil {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("GET %s: %w", edgePath, lastErr)
		}
	}
}

// selfSigned writes an ECDSA P-256 certificate for 127.0.0.1 and localhost,
// and its key, as PEM.
func selfSigned(certPath, keyPath string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tend bench"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// edgeResult renders the section's table and its summary rows.
func edgeResult(load map[string][]wrkResult) result {
	rps, p99s, cpus := loadSamples("edge", load)
	failed := func(name string) string {
		n, all := 0, 0
		for _, r := range load[name] {
			n += r.failed()
			all += r.requests
		}
		return fmt.Sprintf("%s of %s", thousands(int64(n)), thousands(int64(all)))
	}
	rows := [][]string{{"system (Express fixture, GET /big over TLS, gzip)", "requests/s, median", "p99, median", "failed"}}
	for _, name := range []string{sysEdgeTend, sysEdgeNginx} {
		rows = append(rows, []string{fmt.Sprintf("%s, %d instances", name, clusterInstances), perSec(stat(rps, name, median)), ms1(stat(p99s, name, median)), failed(name)})
	}
	var r result
	r.detail = fmt.Sprintf("wrk -t%d -c%d --latency -H 'Accept-Encoding: gzip' https://…%s, median of the runs; failed = socket errors + responses ≥ 400.\n\n", wrkThreads, wrkConns, edgePath) + table(rows)
	tR, nR := stat(rps, sysEdgeTend, median), stat(rps, sysEdgeNginx, median)
	r.add(row{"edge, TLS + gzip + headers, 32 conns: requests/s", perSec(tR), "–", perSec(nR) + " (nginx)", "–", "", ""})
	tP, nP := stat(p99s, sysEdgeTend, median), stat(p99s, sysEdgeNginx, median)
	r.add(row{"edge: p99", ms1(tP), "–", ms1(nP) + " (nginx)", "–", "", ""})
	v := pairedRatio(rps[sysEdgeTend], rps[sysEdgeNginx])
	r.add(row{"edge: tend ÷ nginx requests/s, paired median", times(v), "–", "–", "–", "≥ 1.0×", met(v >= 1.0)})
	pv := pairedRatio(p99s[sysEdgeTend], p99s[sysEdgeNginx])
	r.add(row{"edge: tend ÷ nginx p99, paired median", times(pv), "–", "–", "–", "", ""})
	if len(cpus[sysEdgeTend]) > 0 && len(cpus[sysEdgeNginx]) > 0 {
		r.add(row{"edge: proxy's CPU per request (tend's daemon; nginx's workers), median", us(stat(cpus, sysEdgeTend, median)), "–", us(stat(cpus, sysEdgeNginx, median)) + " (nginx)", "–", "", ""})
		cv := pairedRatio(cpus[sysEdgeTend], cpus[sysEdgeNginx])
		r.add(row{"edge: proxy's CPU per request, tend ÷ nginx, paired median", times(cv), "–", "–", "–", "", ""})
	}
	return r
}
