package socket

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// needNode finds node; CI must have it, a workstation may not.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is needed in CI: ", err)
		}
		t.Skip("node not installed")
	}
	return node
}

// An unmodified http.Server.listen(12345, cb) answers on the inherited
// socket: its callback and 'listening' event fire, and a second listen is
// left alone.
const listenScript = `
const http = require('http');
const net = require('net');
const srv = http.createServer((req, res) => res.end('node ' + process.pid));
let events = 0;
srv.on('listening', () => events++);
srv.listen(Number(process.argv[2]), () => {
  const other = net.createServer().listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: srv.address().port, other: other.address().port, events }));
    other.close();
  });
});
`

func TestNodePreloadUsesInheritedSocket(t *testing.T) {
	node := needNode(t)
	dir := t.TempDir()
	preload, script := filepath.Join(dir, "listen.js"), filepath.Join(dir, "app.js")
	if err := os.WriteFile(preload, PreloadJS, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(listenScript), 0o644); err != nil {
		t.Fatal(err)
	}
	file, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer file.Close()
	inherited := ln.Addr().(*net.TCPAddr).Port

	run := func(t *testing.T, pid, port string) (got struct{ Port, Other, Events int }) {
		// sh stands in for tend's exec wrapper: $$ is the pid node will
		// have after exec.
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=`+pid+` exec "$0" -r "$1" "$2" "$3"`, node, preload, script, port)
		cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=api")
		cmd.ExtraFiles = []*os.File{file}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("node said nothing: %v", err)
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err, line)
		}
		return got
	}

	t.Run("inherited", func(t *testing.T) {
		got := run(t, "$$", "12345")
		if got.Port != inherited || got.Events != 1 || got.Other == inherited || got.Other == 0 {
			t.Fatalf("node reports %+v; want port %d, one 'listening' event, a second port of its own", got, inherited)
		}
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.HasPrefix(string(body), "node ") {
			t.Fatalf("inherited socket answered %q", body)
		}
	})
	t.Run("other pid", func(t *testing.T) {
		// LISTEN_PID names another process: the variables are not ours.
		got := run(t, strconv.Itoa(os.Getpid()), "0")
		if got.Port == inherited {
			t.Fatal("node took the socket although LISTEN_PID is not its pid")
		}
	})
}

func TestListenInUse(t *testing.T) {
	_, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("second bind: %v", err)
	}
}
