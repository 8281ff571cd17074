package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/tendhq/tend/internal/home"
)

// Issued is a credential the hub's keys signed for someone outside the hub
// (tend hub add-host, tend hub creds), recorded in <hub>/issued.json so it
// can be listed and revoked. The hub needs no list of users to let one in;
// it needs this one to keep one out: a revoked credential's key goes into
// the fleet account's revocations, which the hub checks at every
// connection, and a running hub drops the connections it already has.
type Issued struct {
	Key     string    `json:"key"` // the user's public nkey
	Role    Role      `json:"role"`
	Name    string    `json:"name"`
	Issued  time.Time `json:"issued"`
	Revoked time.Time `json:"revoked,omitzero"`
}

const (
	issuedName = "issued.json"
	// MaxIssued bounds the credentials a hub records, revoked ones
	// included: every revocation is carried in the account's claims.
	MaxIssued      = 10_000
	maxIssuedBytes = 8 << 20
)

// ListIssued returns the credentials made with the keys of hub directory
// dir, oldest first.
func ListIssued(dir string) ([]Issued, error) {
	list, _, err := readIssued(dir)
	return list, err
}

// readIssued reads dir's record and says what version of the file it read
// (zero when there is none).
func readIssued(dir string) ([]Issued, home.Stamp, error) {
	path := filepath.Join(dir, issuedName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, home.Stamp{}, nil
	}
	if err != nil {
		return nil, home.Stamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, home.Stamp{}, err
	}
	if fi.Size() > maxIssuedBytes {
		return nil, home.Stamp{}, fmt.Errorf("%s is %d bytes, more than the %d it may be", path, fi.Size(), maxIssuedBytes)
	}
	var list []Issued
	if err := json.NewDecoder(f).Decode(&list); err != nil {
		return nil, home.Stamp{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(list) > MaxIssued {
		return nil, home.Stamp{}, fmt.Errorf("%s: %d credentials, more than %d", path, len(list), MaxIssued)
	}
	return list, home.StampOf(fi), nil
}

// changeIssued runs change on dir's record under an exclusive lock, so
// two commands at once lose neither's credential, and writes what it
// returns.
func changeIssued(dir string, change func([]Issued) ([]Issued, error)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".issued.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	list, _, err := readIssued(dir)
	if err != nil {
		return err
	}
	list, err = change(list)
	if err != nil {
		return err
	}
	if len(list) > MaxIssued {
		return fmt.Errorf("the hub has recorded %d credentials, the most it keeps", MaxIssued)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return home.WriteFile(filepath.Join(dir, issuedName), append(b, '\n'), 0o600)
}

// Issue makes a credential of role, as Creds does, and records it in hub
// directory dir.
func (k Keys) Issue(dir string, role Role, name string) ([]byte, Issued, error) {
	if err := CheckName(name); err != nil {
		return nil, Issued{}, err
	}
	creds, err := k.Creds(role, name)
	if err != nil {
		return nil, Issued{}, err
	}
	uc, err := credsClaims(creds)
	if err != nil {
		return nil, Issued{}, err
	}
	rec := Issued{Key: uc.Subject, Role: role, Name: name, Issued: time.Unix(uc.IssuedAt, 0).UTC()}
	err = changeIssued(dir, func(list []Issued) ([]Issued, error) {
		return append(list, rec), nil
	})
	if err != nil {
		return nil, Issued{}, fmt.Errorf("recording the credential of %s: %w", name, err)
	}
	return creds, rec, nil
}

func credsClaims(creds []byte) (*jwt.UserClaims, error) {
	tok, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, err
	}
	return jwt.DecodeUserClaims(tok)
}

// Revocation names what to revoke: every credential of a name (any role),
// or the one of a public key, or the one in a .creds file's contents.
type Revocation struct {
	Name  string
	Key   string
	Creds []byte
	// CredsFile names Creds in messages.
	CredsFile string
}

// Revoke revokes the credentials of hub directory dir that r names and
// returns them. A credential made before the hub kept its record (or
// elsewhere) is revoked by its file or key, as long as the hub's keys
// signed it. Revoking what is revoked already is an error, as is naming
// nothing.
func (k Keys) Revoke(dir string, r Revocation) ([]Issued, error) {
	var from Issued // the credential of r.Creds or r.Key, when unrecorded
	switch {
	case len(r.Creds) > 0:
		uc, err := credsClaims(r.Creds)
		if err != nil {
			return nil, fmt.Errorf("%s: not a credentials file: %w", r.CredsFile, err)
		}
		if uc.Issuer != public(k.Account) {
			return nil, fmt.Errorf("%s: these credentials were not made by this hub's keys", r.CredsFile)
		}
		role, name, _ := strings.Cut(uc.Name, ":")
		from = Issued{Key: uc.Subject, Role: Role(role), Name: name, Issued: time.Unix(uc.IssuedAt, 0).UTC()}
	case r.Key != "":
		if !strings.HasPrefix(r.Key, "U") || len(r.Key) != 56 {
			return nil, fmt.Errorf("key %q: want a user's public nkey (56 characters starting with U; tend hub ls lists them)", r.Key)
		}
		from = Issued{Key: r.Key}
	case r.Name != "":
		if err := CheckName(r.Name); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("name the credentials to revoke: a name, a key or a .creds file")
	}
	now := time.Now().UTC().Truncate(time.Second)
	var done []Issued
	err := changeIssued(dir, func(list []Issued) ([]Issued, error) {
		matched := false
		for i := range list {
			c := &list[i]
			if (from.Key != "" && c.Key != from.Key) || (from.Key == "" && c.Name != r.Name) {
				continue
			}
			matched = true
			if c.Revoked.IsZero() {
				c.Revoked = now
				done = append(done, *c)
			}
		}
		switch {
		case from.Key != "" && !matched:
			from.Revoked = now
			done = append(done, from)
			list = append(list, from)
		case !matched:
			return nil, fmt.Errorf("no credentials named %s (tend hub ls lists them; --creds FILE revokes one made before the hub kept a list)", r.Name)
		case len(done) == 0:
			return nil, errors.New("revoked already")
		}
		return list, nil
	})
	return done, err
}

// revocations are the keys a hub refuses, from its record, by the time
// each was revoked.
func revocations(list []Issued) map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range list {
		if !c.Revoked.IsZero() {
			out[c.Key] = c.Revoked
		}
	}
	return out
}

// sameRevocations says whether a and b revoke the same keys at the same
// times.
func sameRevocations(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, t := range a {
		if u, ok := b[k]; !ok || !u.Equal(t) {
			return false
		}
	}
	return true
}

// SortIssued orders credentials by name, then by when they were made.
func SortIssued(list []Issued) {
	slices.SortStableFunc(list, func(a, b Issued) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Issued.Compare(b.Issued)
	})
}

// maxCredsBytes bounds a .creds file (a JWT and a seed: about 1 KB).
const maxCredsBytes = 64 << 10

// ReadCreds reads a .creds file, refusing one too large to be one.
func ReadCreds(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredsBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCredsBytes {
		return nil, fmt.Errorf("%s: more than %d bytes, not a credentials file", path, maxCredsBytes)
	}
	return b, nil
}
