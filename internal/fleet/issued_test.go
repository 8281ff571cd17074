package fleet

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// dial connects to h over loopback TLS with creds, without reconnecting;
// gone receives what the server said when it closed the connection.
func dial(t *testing.T, h *Hub, creds []byte) (nc *nats.Conn, gone <-chan string, err error) {
	t.Helper()
	tc, err := ClientTLS{Fingerprint: h.Fingerprint}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 1)
	var mu sync.Mutex
	var said []string
	nc, err = nats.Connect(h.URL(), nats.Secure(tc), CredsOption(creds), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			said = append(said, err.Error())
			mu.Unlock()
		}),
		nats.ClosedHandler(func(c *nats.Conn) {
			mu.Lock()
			defer mu.Unlock()
			if err := c.LastError(); err != nil {
				said = append(said, err.Error())
			}
			ch <- strings.Join(said, "; ")
		}))
	return nc, ch, err
}

// closedWith waits for a connection of dial to be closed.
func closedWith(t *testing.T, gone <-chan string) string {
	t.Helper()
	select {
	case said := <-gone:
		return said
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still open 10s on")
		return ""
	}
}

func TestRevokedCredentialsAreDroppedAndRefused(t *testing.T) {
	dir := t.TempDir()
	h, err := StartHub(context.Background(), HubConfig{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { h.Close() }()
	keys := h.Keys()
	web1, rec, err := keys.Issue(dir, RoleHost, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	web2, _, err := keys.Issue(dir, RoleHost, "web-2")
	if err != nil {
		t.Fatal(err)
	}
	// Made as before the hub kept a record: revocable by its file.
	old, err := keys.Creds(RoleReader, "old")
	if err != nil {
		t.Fatal(err)
	}
	list, err := ListIssued(dir)
	if err != nil || len(list) != 2 || list[0] != rec || list[1].Name != "web-2" || !list[0].Revoked.IsZero() {
		t.Fatalf("issued = %+v, %v", list, err)
	}

	nc1, gone1, err := dial(t, h, web1)
	if err != nil {
		t.Fatal(err)
	}
	defer nc1.Close()
	nc2, gone2, err := dial(t, h, web2)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	ncOld, goneOld, err := dial(t, h, old)
	if err != nil {
		t.Fatal(err)
	}
	defer ncOld.Close()

	done, err := keys.Revoke(dir, Revocation{Name: "web-1"})
	if err != nil || len(done) != 1 || done[0].Key != rec.Key || done[0].Revoked.IsZero() {
		t.Fatalf("revoke web-1: %+v, %v", done, err)
	}
	// The running hub drops its connection (it checks the record once a
	// second) and refuses a new one; web-2 stays.
	if said := closedWith(t, gone1); !strings.Contains(strings.ToLower(said), "revoked") {
		t.Errorf("web-1's connection ended with %q, want the revocation", said)
	}
	if _, _, err := dial(t, h, web1); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("web-1 connecting again: %v, want an authorization violation", err)
	}
	if err := nc2.Flush(); err != nil {
		t.Errorf("web-2 after web-1's revocation: %v", err)
	}

	// The old credential, by its file.
	done, err = keys.Revoke(dir, Revocation{Creds: old})
	if err != nil || len(done) != 1 || done[0].Name != "old" || done[0].Role != RoleReader {
		t.Fatalf("revoke by file: %+v, %v", done, err)
	}
	if said := closedWith(t, goneOld); !strings.Contains(strings.ToLower(said), "revoked") {
		t.Errorf("the old credential's connection ended with %q, want the revocation", said)
	}

	// Refusals change nothing.
	other, err := LoadKeys(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Creds(RoleHost, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    Revocation
		want string
	}{
		{Revocation{Name: "web-1"}, "revoked already"},
		{Revocation{Name: "nobody"}, "no credentials named nobody"},
		{Revocation{Key: "XYZ"}, "want a user's public nkey"},
		{Revocation{Creds: []byte("junk")}, "not a credentials file"},
		{Revocation{Creds: foreign}, "not made by this hub's keys"},
		{Revocation{}, "name the credentials to revoke"},
	} {
		if _, err := keys.Revoke(dir, c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("revoke %+v: %v, want %q", c.r, err, c.want)
		}
	}
	if list, err := ListIssued(dir); err != nil || len(list) != 3 {
		t.Errorf("issued after the refusals = %+v, %v", list, err)
	}

	// A hub started again refuses the revoked from its start.
	nc2.Close()
	<-gone2
	h.Close()
	h, err = StartHub(context.Background(), HubConfig{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string][]byte{"web-1": web1, "old": old} {
		if _, _, err := dial(t, h, creds); err == nil {
			t.Errorf("%s connected to the restarted hub", name)
		}
	}
	nc, _, err := dial(t, h, web2)
	if err != nil {
		t.Fatalf("web-2 to the restarted hub: %v", err)
	}
	nc.Close()
}
