package doctor

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// AuditError is npm audit failing to produce a report.
type AuditError struct {
	Dir     string
	Code    string // npm's, such as ENOLOCK or ENOTFOUND; E405 for an HTTP 405
	Message string
	// Registry says the registry's audit endpoint could not be reached or
	// refused the request: the project is not at fault, the network is.
	Registry bool
}

func (e *AuditError) Error() string {
	msg := fmt.Sprintf("npm audit in %s: %s", e.Dir, e.Message)
	if e.Registry {
		msg += " (the npm registry's audit endpoint must be reachable: check the network, proxy and registry settings, or run doctor without --audit)"
	}
	return msg
}

// networkCodes are npm's error codes for a registry it could not talk to.
var networkCodes = []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT",
	"ENETUNREACH", "EHOSTUNREACH", "ERR_SOCKET_TIMEOUT", "EPROTO", "SELF_SIGNED_CERT_IN_CHAIN",
	"UNABLE_TO_GET_ISSUER_CERT_LOCALLY"}

// auditReport is the part of `npm audit --json` (npm 7 and later) read here.
type auditReport struct {
	Vulnerabilities map[string]struct {
		Severity     string
		Range        string
		Via          []json.RawMessage // an advisory object, or the name of a vulnerable dependency
		FixAvailable json.RawMessage   // true, false, or {name, version, isSemVerMajor}
	}
	Metadata struct {
		Dependencies struct{ Prod int }
	}
	// Set instead when npm failed.
	Message    string
	Code       string
	StatusCode int
	Error      *struct{ Code, Summary, Detail string }
}

// Audit runs `npm audit --omit=dev --json` in dir, the app's npm project
// (ProjectDir), and returns one result per vulnerable package: FAIL for high
// and critical, WARN otherwise; one PASS when there is none. Results have no
// App: the caller sets it.
func Audit(ctx context.Context, dir string) ([]Result, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("npm audit: npm is not on PATH: install npm (it comes with Node.js) or run doctor without --audit")
	}
	cmd := exec.CommandContext(ctx, npm, "audit", "--omit=dev", "--json")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// npm audit exits 1 both when it finds something and when it fails:
	// the JSON on stdout tells which.
	runErr := cmd.Run()
	var exit *exec.ExitError
	if ctx.Err() != nil {
		return nil, fmt.Errorf("npm audit in %s: %w", dir, ctx.Err())
	} else if runErr != nil && !errors.As(runErr, &exit) {
		return nil, fmt.Errorf("npm audit in %s: %w", dir, runErr)
	}
	var rep auditReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		msg := lastLine(stderr.String())
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return nil, &AuditError{Dir: dir, Message: "no report: " + msg}
	}
	switch {
	case rep.Error != nil || rep.StatusCode != 0 || rep.Message != "":
		return nil, auditError(dir, &rep, stderr.String())
	case rep.Vulnerabilities == nil: // npm 6's report has "advisories" instead
		return nil, &AuditError{Dir: dir, Message: "the report has no vulnerabilities: npm 7 or later is needed"}
	}
	return fold(dir, &rep), nil
}

func auditError(dir string, rep *auditReport, stderr string) *AuditError {
	e := &AuditError{Dir: dir, Code: rep.Code}
	if rep.Error != nil {
		e.Code = cmp.Or(e.Code, rep.Error.Code)
		e.Message = strings.TrimSpace(rep.Error.Summary + " " + rep.Error.Detail)
	}
	e.Message = cmp.Or(e.Message, rep.Message, lastLine(stderr), "npm audit failed")
	if rep.StatusCode != 0 {
		e.Code = cmp.Or(e.Code, fmt.Sprintf("E%d", rep.StatusCode))
		e.Registry = true // the audit endpoint answered with an HTTP error
	}
	e.Registry = e.Registry || slices.Contains(networkCodes, e.Code)
	return e
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

var severityRank = map[string]int{"critical": 4, "high": 3, "moderate": 2, "low": 1, "info": 0}

func fold(dir string, rep *auditReport) []Result {
	if len(rep.Vulnerabilities) == 0 {
		return []Result{{Check: "npm_audit", Level: Pass,
			Detail: fmt.Sprintf("npm audit found no known vulnerability in %d production dependencies of %s.", rep.Metadata.Dependencies.Prod, dir)}}
	}
	names := make([]string, 0, len(rep.Vulnerabilities))
	for n := range rep.Vulnerabilities {
		names = append(names, n)
	}
	// Worst first, then by name, so the output is stable.
	slices.SortFunc(names, func(a, b string) int {
		if d := severityRank[rep.Vulnerabilities[b].Severity] - severityRank[rep.Vulnerabilities[a].Severity]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var rs []Result
	for _, n := range names {
		v := rep.Vulnerabilities[n]
		level := Warn
		if severityRank[v.Severity] >= severityRank["high"] {
			level = Fail
		}
		var advs, through []string
		for _, raw := range v.Via {
			var dep string
			if json.Unmarshal(raw, &dep) == nil {
				through = append(through, dep)
				continue
			}
			var a struct{ Title, URL string }
			if json.Unmarshal(raw, &a) == nil && a.Title != "" {
				id := a.URL[strings.LastIndexByte(a.URL, '/')+1:]
				if !slices.Contains(advs, a.Title+" ("+id+")") {
					advs = append(advs, a.Title+" ("+id+")")
				}
			}
		}
		detail := fmt.Sprintf("%s %s (%s)", n, v.Range, v.Severity)
		if len(advs) > 0 {
			detail += ": " + strings.Join(advs, "; ")
		}
		if len(through) > 0 {
			detail += "; through " + strings.Join(through, ", ")
		}
		rs = append(rs, Result{Check: "npm_audit", Level: level, Detail: detail + ".", Fix: auditFix(dir, n, v.FixAvailable)})
	}
	return rs
}

// auditFix turns npm's fixAvailable into a command.
func auditFix(dir, name string, raw json.RawMessage) string {
	var ok bool
	if json.Unmarshal(raw, &ok) == nil {
		if ok {
			return fmt.Sprintf("Run `npm audit fix --omit=dev` in %s, then `tend reload` the app.", dir)
		}
		return fmt.Sprintf("No fixed version is published: replace %s, or the package that depends on it, in %s.", name, dir)
	}
	var f struct {
		Name          string
		Version       string
		IsSemVerMajor bool
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Name == "" {
		return fmt.Sprintf("Run `npm audit` in %s to see how to fix it.", dir)
	}
	major := ""
	if f.IsSemVerMajor {
		major = " (a major upgrade: read its migration notes first)"
	}
	return fmt.Sprintf("Run `npm install %s@%s` in %s%s, then `tend reload` the app.", f.Name, f.Version, dir, major)
}
