package doctor

import (
	"fmt"
	"time"
)

// nodeEOLWritten is when nodeEOL was last brought up to date. Lines released
// after it are unknown to the table and pass.
const nodeEOLWritten = "2026-11-26"

// nodeLine is one Node.js release line: LTS from lts until end. Odd lines are
// never LTS (lts is zero) and live for about eight months.
type nodeLine struct {
	major    int
	lts, end time.Time
}

// nodeEOL is the Node.js release schedule (github.com/nodejs/Release,
// schedule.json). From 27 on there is one line a year and every line becomes
// LTS; 26 is the last of the old cadence.
var nodeEOL = []nodeLine{
	{14, date("2020-10-27"), date("2023-04-30")},
	{15, time.Time{}, date("2021-06-01")},
	{16, date("2021-10-26"), date("2023-09-11")}, // cut short: OpenSSL 1.1.1's end of life
	{17, time.Time{}, date("2022-06-01")},
	{18, date("2022-10-25"), date("2025-04-30")},
	{19, time.Time{}, date("2023-06-01")},
	{20, date("2023-10-24"), date("2026-04-30")},
	{21, time.Time{}, date("2024-06-01")},
	{22, date("2024-10-29"), date("2027-04-30")},
	{23, time.Time{}, date("2025-06-01")},
	{24, date("2025-10-28"), date("2028-04-30")},
	{25, time.Time{}, date("2026-06-01")},
	{26, date("2026-10-28"), date("2029-04-30")},
}

// eolWarning is how long before a line's end of life the check warns.
const eolWarning = 90 * 24 * time.Hour

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

// nodeEnv checks NODE_ENV=production: without it Express renders errors with
// stack traces, recompiles views on every request and skips its caches.
func (c *checker) nodeEnv() {
	env, from := c.in.Env, "the app's environment"
	if env == nil && c.in.App.Spec != nil {
		env, from = c.in.App.Spec.Env, "the app's env settings (no instance is running)"
	}
	fix := fmt.Sprintf("Run `tend set %s env.NODE_ENV=production`.", c.name)
	switch v, ok := env["NODE_ENV"]; {
	case v == "production":
		c.add("node_env", Pass, "NODE_ENV=production in "+from+".", "")
	case !ok:
		c.add("node_env", Fail, "NODE_ENV is not set in "+from+": Express runs in development mode, sending stack traces to clients and skipping its view cache.", fix)
	default:
		c.add("node_env", Fail, fmt.Sprintf("NODE_ENV=%s in %s, not production: Express and many libraries keep their development behaviour.", v, from), fix)
	}
}

// nodeVersion checks the Node.js line against nodeEOL.
func (c *checker) nodeVersion() {
	raw := c.in.NodeVersion
	if raw == "" {
		return
	}
	v, ok := parseVersion(raw)
	if !ok {
		c.add("node_version", Warn, fmt.Sprintf("Cannot read the Node.js version %q.", raw),
			"Check that the app's interpreter runs: `node --version` should print a version such as v24.11.1.")
		return
	}
	next := recommendedNode(c.now)
	fix := fmt.Sprintf("Install %s and point the app at it with `tend set %s interpreter=/path/to/node`.", next, c.name)
	stale := ""
	if c.now.After(date(nodeEOLWritten).AddDate(1, 0, 0)) {
		stale = " (tend's release table was written " + nodeEOLWritten + ": a newer tend knows later dates)"
	}
	line, known := findLine(v.major)
	switch {
	case !known && v.major < nodeEOL[0].major:
		c.add("node_version", Fail, fmt.Sprintf("Node.js %s: the %d line reached end of life before %s and gets no security fixes.", raw, v.major, day(nodeEOL[0].end)), fix)
	case !known && v.pre != nil:
		c.add("node_version", Warn, fmt.Sprintf("Node.js %s is a prerelease, not meant for production.", raw), fix)
	case !known:
		c.add("node_version", Pass, fmt.Sprintf("Node.js %s is newer than tend's release table (written %s).", raw, nodeEOLWritten), "")
	case !c.now.Before(line.end):
		c.add("node_version", Fail, fmt.Sprintf("Node.js %s: the %d line reached end of life on %s and gets no security fixes%s.", raw, v.major, day(line.end), stale), fix)
	case line.end.Sub(c.now) < eolWarning:
		days := int(line.end.Sub(c.now).Hours()/24) + 1
		c.add("node_version", Warn, fmt.Sprintf("Node.js %s: the %d line reaches end of life on %s, in %d days%s.", raw, v.major, day(line.end), days, stale), fix)
	case v.pre != nil:
		c.add("node_version", Warn, fmt.Sprintf("Node.js %s is a prerelease, not meant for production.", raw), fix)
	case line.lts.IsZero():
		c.add("node_version", Warn, fmt.Sprintf("Node.js %s: odd lines are never LTS and the %d line ends on %s; production should run an LTS line.", raw, v.major, day(line.end)), fix)
	case c.now.Before(line.lts):
		c.add("node_version", Warn, fmt.Sprintf("Node.js %s: the %d line is Current until it becomes LTS on %s; production should run an LTS line.", raw, v.major, day(line.lts)), fix)
	default:
		c.add("node_version", Pass, fmt.Sprintf("Node.js %s: LTS, supported until %s%s.", raw, day(line.end), stale), "")
	}
}

func findLine(major int) (nodeLine, bool) {
	for _, l := range nodeEOL {
		if l.major == major {
			return l, true
		}
	}
	return nodeLine{}, false
}

// recommendedNode names the newest LTS line with more than eolWarning left.
func recommendedNode(now time.Time) string {
	for i := len(nodeEOL) - 1; i >= 0; i-- {
		l := nodeEOL[i]
		if !l.lts.IsZero() && !now.Before(l.lts) && l.end.Sub(now) >= eolWarning {
			return fmt.Sprintf("Node.js %d (LTS until %s)", l.major, day(l.end))
		}
	}
	return "the current Node.js LTS line"
}
