package fleet

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/client"
)

// profileData is what fakeLocal's profile route streams: a few MiB, more
// than one chunk of the object store and more than one NATS message.
var profileData = func() []byte {
	b := make([]byte, 5<<20+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func TestProfileTravelsThroughTheObjectStoreAndIsDeleted(t *testing.T) {
	h := startHub(t)
	runAgent(t, h, "web-1", nil, &fakeLocal{})
	ctx := context.Background()
	for _, role := range []Role{RoleOperator, RoleReader} {
		c := control(t, h, role)
		cl := client.NewVia("web-1", c.Transport("web-1"))
		var p *client.Profile
		eventually(t, "an answer", func() bool {
			var err error
			p, err = cl.Profile(ctx, "api", api.ProfileRequest{Kind: api.ProfileCPU})
			if err != nil && !strings.Contains(err.Error(), "does not answer") {
				t.Fatalf("profile as %s: %v", role, err)
			}
			return err == nil
		})
		if p.PID != 4242 {
			t.Errorf("as %s: pid = %d, want 4242", role, p.PID)
		}
		got, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("as %s: read the profile: %v", role, err)
		}
		if !bytes.Equal(got, profileData) {
			t.Fatalf("as %s: got %d bytes, not the %d the daemon sent", role, len(got), len(profileData))
		}
		if whole, err := p.Err(); !whole || err == nil || err.Error() != "inspector left open" {
			t.Errorf("as %s: Err() = %t, %v; want the daemon's warning", role, whole, err)
		}
		op := control(t, h, RoleOperator)
		if n, err := op.profileObjects(ctx); err != nil || n != 1 {
			t.Fatalf("as %s: objects before close = %d, %v; want 1", role, n, err)
		}
		if err := p.Body.Close(); err != nil {
			t.Fatalf("as %s: close: %v", role, err)
		}
		if n, err := op.profileObjects(ctx); err != nil || n != 0 {
			t.Fatalf("as %s: objects after close = %d, %v; want 0 (deleted)", role, n, err)
		}
	}
	// The daemon's refusal comes back as it is, and stores nothing.
	c := control(t, h, RoleOperator)
	_, err := client.NewVia("web-1", c.Transport("web-1")).Profile(ctx, "api", api.ProfileRequest{Kind: api.ProfileHeap})
	if err == nil || !strings.Contains(err.Error(), "bad profile request") {
		t.Fatalf("bad request: err = %v, want the daemon's error", err)
	}
}

func TestHostTakesOneProfileAtATimeAndCapsItsSize(t *testing.T) {
	h := startHub(t)
	held, in := make(chan struct{}), make(chan struct{}, 1)
	runAgent(t, h, "web-1", nil, &fakeLocal{profileHeld: held, profileIn: in})
	c := control(t, h, RoleOperator)
	cl := client.NewVia("web-1", c.Transport("web-1"))
	ctx := context.Background()
	eventually(t, "an answer", func() bool { _, err := cl.List(ctx); return err == nil })
	first := make(chan error, 1)
	go func() {
		p, err := cl.Profile(ctx, "api", api.ProfileRequest{Kind: api.ProfileCPU})
		if err == nil {
			_, err = io.Copy(io.Discard, p.Body)
			p.Body.Close()
		}
		first <- err
	}()
	<-in
	_, err := cl.Profile(ctx, "api", api.ProfileRequest{Kind: api.ProfileCPU})
	if err == nil || !strings.Contains(err.Error(), "taking another profile") {
		t.Fatalf("a second profile at once: err = %v, want refused", err)
	}
	close(held)
	if err := <-first; err != nil {
		t.Fatalf("the first profile: %v", err)
	}

	// A profile bigger than the fleet carries is refused whole, and
	// leaves nothing in the bucket.
	maxProfile = 1 << 20
	t.Cleanup(func() { maxProfile = MaxProfile })
	_, err = cl.Profile(ctx, "api", api.ProfileRequest{Kind: api.ProfileCPU})
	if err == nil || !strings.Contains(err.Error(), "more than the fleet carries") {
		t.Fatalf("a profile of %d bytes: err = %v, want refused", len(profileData), err)
	}
	if n, err := c.profileObjects(ctx); err != nil || n != 0 {
		t.Fatalf("objects left = %d, %v; want 0", n, err)
	}
}
