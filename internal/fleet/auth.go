package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/tendhq/tend/internal/home"
)

// Keys are a hub's signing keys, kept in $TEND_HOME/hub/keys.json (0600).
// The operator signs the accounts; the fleet account signs every
// credential (nats "creds": a user JWT and its nkey seed), so the hub never
// needs a list of users: tend hub add-host makes a credential, and the
// server checks its signature and the permissions it carries.
type Keys struct {
	Operator string `json:"operator"` // seeds
	System   string `json:"system"`
	Account  string `json:"account"`
}

const keysName = "keys.json"

// LoadKeys reads dir's keys; with create, a dir with none gets new ones.
func LoadKeys(dir string, create bool) (Keys, error) {
	path := filepath.Join(dir, keysName)
	var k Keys
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return newKeys(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return k, fmt.Errorf("no hub in %s: run tend hub there first", dir)
	}
	if err != nil {
		return k, err
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range []string{k.Operator, k.System, k.Account} {
		if _, err := nkeys.FromSeed([]byte(s)); err != nil {
			return k, fmt.Errorf("%s: bad seed: %w", path, err)
		}
	}
	return k, nil
}

func newKeys(dir string) (Keys, error) {
	var k Keys
	for _, x := range []struct {
		make func() (nkeys.KeyPair, error)
		to   *string
	}{{nkeys.CreateOperator, &k.Operator}, {nkeys.CreateAccount, &k.System}, {nkeys.CreateAccount, &k.Account}} {
		kp, err := x.make()
		if err != nil {
			return k, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return k, err
		}
		*x.to = string(seed)
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return k, err
	}
	return k, home.WriteFile(filepath.Join(dir, keysName), b, 0o600)
}

func pair(seed string) nkeys.KeyPair {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		panic(err) // checked by LoadKeys
	}
	return kp
}

func public(seed string) string {
	p, _ := pair(seed).PublicKey()
	return p
}

// systemJWT signs the system account with the operator key.
func (k Keys) systemJWT() (string, error) {
	sc := jwt.NewAccountClaims(public(k.System))
	sc.Name = "SYS"
	return sc.Encode(pair(k.Operator))
}

// accountJWT signs the fleet account with the operator key; the
// credentials of revoked's keys made before their times are refused.
func (k Keys) accountJWT(revoked map[string]time.Time) (string, error) {
	ac := jwt.NewAccountClaims(public(k.Account))
	ac.Name = "tend"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1}
	for key, at := range revoked {
		ac.RevokeAt(key, at)
	}
	return ac.Encode(pair(k.Operator))
}

// Role is what a credential may do.
type Role string

// The roles of credentials.
const (
	// RoleHost is an agent: it writes its own status and heartbeat, reads
	// its own desired state and answers its own requests.
	RoleHost Role = "host"
	// RoleOperator reads and changes everything.
	RoleOperator Role = "operator"
	// RoleReader reads hosts and their status and sends read requests.
	RoleReader Role = "reader"
)

// The subjects of the profile bucket (profile.go): a host opens it (or
// creates it, on a cluster where no hub did), puts objects (a put reads an
// object's meta by name and purges the chunks of a put that failed); a
// reader, who may profile, reads and deletes them. Neither can name
// objects by prefix: an object's name is one base64 token of its meta
// subject. A host cannot read chunks (no consumer, no direct get by
// sequence), so not another host's profiles; it could overwrite or purge
// them.
var (
	profileHostPub = jwt.StringList{
		"$JS.API.STREAM.INFO.OBJ_" + ProfileBucket,
		"$JS.API.STREAM.CREATE.OBJ_" + ProfileBucket,
		"$JS.API.STREAM.PURGE.OBJ_" + ProfileBucket,
		"$JS.API.DIRECT.GET.OBJ_" + ProfileBucket + ".$O." + ProfileBucket + ".M.*",
		"$O." + ProfileBucket + ".C.*",
		"$O." + ProfileBucket + ".M.*",
	}
	profileReaderPub = jwt.StringList{
		"$JS.API.STREAM.INFO.OBJ_" + ProfileBucket,
		"$JS.API.STREAM.PURGE.OBJ_" + ProfileBucket,
		"$JS.API.DIRECT.GET.OBJ_" + ProfileBucket + ".>",
		"$JS.API.CONSUMER.CREATE.OBJ_" + ProfileBucket,
		"$JS.API.CONSUMER.CREATE.OBJ_" + ProfileBucket + ".>",
		"$JS.API.CONSUMER.DELETE.OBJ_" + ProfileBucket + ".>",
		"$JS.FC.OBJ_" + ProfileBucket + ".>",
		"$O." + ProfileBucket + ".M.*",
	}
)

// Permissions are the subjects a credential of role may use; name is the
// host of RoleHost.
func Permissions(role Role, name string) jwt.Permissions {
	switch role {
	case RoleHost:
		return jwt.Permissions{
			Pub: jwt.Permission{Allow: append(jwt.StringList{
				kvSubject(StatusBucket, name),
				kvSubject(HeartbeatBucket, name),
				directGetSubject(DesiredBucket, name),
				streamPrefix(name) + "*",
			}, profileHostPub...)},
			Sub: jwt.Permission{Allow: jwt.StringList{
				desiredNotice(name),
				"tend.req." + name + ".>",
				streamPrefix(name) + "*.alive",
				inboxPrefix(name) + ".>",
			}},
			// Answers go to the requester's inbox, once, soon (a profile's
			// within profileTimeout).
			Resp: &jwt.ResponsePermission{MaxMsgs: 1, Expires: profileTimeout + 5*time.Minute},
		}
	case RoleReader:
		var pub jwt.StringList
		for _, b := range []string{StatusBucket, HeartbeatBucket, DesiredBucket} {
			pub = append(pub, "$JS.API.STREAM.INFO.KV_"+b, "$JS.API.DIRECT.GET.KV_"+b, "$JS.API.DIRECT.GET.KV_"+b+".>")
		}
		pub = append(pub, "tend.req.*.read", "tend.stream.*.*.alive")
		pub = append(pub, profileReaderPub...)
		return jwt.Permissions{Pub: jwt.Permission{Allow: pub}, Sub: jwt.Permission{Allow: jwt.StringList{"_INBOX.>", "tend.stream.>"}}}
	}
	return jwt.Permissions{} // operator: everything
}

// Creds makes a credential of role signed by the fleet account: the
// contents of a .creds file. name is the host of RoleHost, and a label
// otherwise.
func (k Keys) Creds(role Role, name string) ([]byte, error) {
	if role == RoleHost {
		if err := CheckName(name); err != nil {
			return nil, err
		}
	}
	u, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := u.PublicKey()
	seed, err := u.Seed()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(pub)
	uc.Name = string(role) + ":" + name
	uc.Permissions = Permissions(role, name)
	tok, err := uc.Encode(pair(k.Account))
	if err != nil {
		return nil, err
	}
	return jwt.FormatUserConfig(tok, seed)
}
