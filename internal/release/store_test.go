package release

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tendhq/tend/internal/api"
)

func TestStoreInstallSwitchPrune(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	var seqs []int
	for _, v := range []string{"1.0.0", "1.1.0", "../2.0.0", "2.0.0"} {
		p := craft(t, []entry{{name: "app.js", body: v}}, func(m *Manifest) { m.Version = v })
		a, err := Open(p, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Install(a, "web", api.Release{By: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(r.Dir) != s.AppDir("web") {
			t.Fatalf("release %d in %s, outside %s", r.Seq, r.Dir, s.AppDir("web"))
		}
		seqs = append(seqs, r.Seq)
		if err := s.Switch("web", r.Dir); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(seqs, []int{1, 2, 3, 4}) {
		t.Fatalf("seqs %v", seqs)
	}
	if got, _ := os.Readlink(s.Current("web")); got != "4-2.0.0" {
		t.Errorf("current -> %s", got)
	}
	// Back to 1, then keep 2: the active one stays, the oldest others go.
	rs, _ := s.List("web")
	if err := s.Switch("web", rs[0].Dir); err != nil {
		t.Fatal(err)
	}
	gone, err := s.Prune("web", 2)
	if err != nil || !slices.Equal(gone, []int{2, 3}) {
		t.Fatalf("pruned %v %v, want [2 3]", gone, err)
	}
	rs, _ = s.List("web")
	if len(rs) != 2 || rs[0].Seq != 1 || !rs[0].Active || rs[1].Seq != 4 || rs[1].Active || rs[1].By != "ci" {
		t.Fatalf("releases %+v", rs)
	}
	// "../2.0.0" named its directory safely: 3-_2.0.0.
	for _, seq := range []string{"2-1.1.0", "3-_2.0.0"} {
		if _, err := os.Stat(filepath.Join(s.AppDir("web"), seq)); !os.IsNotExist(err) {
			t.Errorf("%s still there", seq)
		}
	}
	// The active release cannot be forgotten; another can.
	if err := s.Forget("web", 1); err == nil {
		t.Error("forgot the active release")
	}
	if err := s.Forget("web", 4); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.List("web"); len(rs) != 1 {
		t.Errorf("releases %+v after forget", rs)
	}
}
