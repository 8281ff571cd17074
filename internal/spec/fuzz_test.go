package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeJSON checks that API input never panics the daemon, and that an
// accepted App means the same after a trip through its JSON form, which is
// how apps reach the daemon and its state file.
func FuzzDecodeJSON(f *testing.F) {
	dir := testdata(f)
	for _, name := range []string{"app.json", "pm2.json"} {
		// The file's own apps, whose relative paths the API refuses...
		b, err := os.ReadFile(filepath.Join(dir, "valid", name))
		if err != nil {
			f.Fatal(err)
		}
		var file struct{ Apps json.RawMessage }
		if err := json.Unmarshal(b, &file); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(file.Apps))
		// ...and what they decode to, which it accepts.
		b, err = os.ReadFile(filepath.Join(dir, "valid", name+".golden"))
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(bytes.ReplaceAll(b, []byte("$DIR"), []byte(dir)), &file); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(file.Apps))
	}
	f.Add([]byte(`[{"script": "sh", "cwd": "/", "args": "-c 'sleep 1'", "instances": "max", "kill_signal": "term"}]`))

	o := DecodeOptions{EnvName: "production", NumCPU: 4}
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, _, err := DecodeJSON(b, o)
		if err != nil {
			if apps != nil {
				t.Fatalf("DecodeJSON returned apps with error %v", err)
			}
			return
		}
		again, err := json.Marshal(apps)
		if err != nil {
			t.Fatalf("marshal %+v: %v", apps, err)
		}
		back, _, err := DecodeJSON(again, o)
		if err != nil {
			t.Fatalf("DecodeJSON refused its own output %s: %v", again, err)
		}
		if !reflect.DeepEqual(apps, back) {
			t.Fatalf("round trip changed the apps\n got %+v\nwant %+v", back, apps)
		}
	})
}
