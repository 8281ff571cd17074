package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/tendhq/tend/internal/api"
	"github.com/tendhq/tend/internal/spec"
)

// crashWindow is how far back crashes count.
const crashWindow = 24 * time.Hour

// settings checks what tend itself does for the app.
func (c *checker) settings() {
	sp := c.in.App.Spec
	if sp.Autorestart {
		c.add("autorestart", Pass, "Auto-restart is on.", "")
	} else {
		c.add("autorestart", Fail, "Auto-restart is off: the first crash takes the app down until someone restarts it.",
			fmt.Sprintf("Run `tend set %s autorestart=true`.", c.name))
	}

	n := sp.Instances
	if sp.Autoscale != nil {
		n = sp.Autoscale.Min
	}
	if n >= 2 {
		c.add("instances", Pass, fmt.Sprintf("At least %d instances: reloads and crashes leave others serving.", n), "")
	} else {
		fix := fmt.Sprintf("Run `tend set %s instances=2`.", c.name)
		if sp.Port != 0 && sp.Mode == spec.ModeFork {
			fix = fmt.Sprintf("Run `tend set %s instances=2 mode=proxy` (the edge then balances over them).", c.name)
		}
		if sp.Autoscale != nil {
			fix = fmt.Sprintf("Run `tend set %s autoscale.min=2`.", c.name)
		}
		c.add("instances", Warn, "One instance: while it reloads or after it crashes, nothing answers.", fix)
	}

	if sp.MaxMemoryRestart > 0 {
		c.add("memory_limit", Pass, fmt.Sprintf("Instances are replaced above %s.", mib(sp.MaxMemoryRestart)), "")
	} else {
		c.add("memory_limit", Warn, "No max_memory_restart: a leak grows until the kernel's OOM killer ends the process, or something else on the host.",
			fmt.Sprintf("Run `tend set %s max_memory_restart=%dM`, about 1.5 times the instances' usual peak.", c.name, suggestLimit(c.in.App.Instances)))
	}

	switch {
	case sp.MaxSize > 0 || sp.RotateInterval != "":
		var how []string
		if sp.MaxSize > 0 {
			how = append(how, "at "+mib(sp.MaxSize))
		}
		if sp.RotateInterval != "" {
			how = append(how, sp.RotateInterval)
		}
		c.add("log_rotation", Pass, "Logs rotate "+strings.Join(how, " and ")+".", "")
	case c.in.LogRotationDefault:
		c.add("log_rotation", Pass, "Logs rotate by the daemon's defaults (daemon.yaml).", "")
	default:
		c.add("log_rotation", Warn, "Logs never rotate: they grow until the disk is full.",
			fmt.Sprintf("Run `tend set %s max_size=10M rotate_interval=daily retain=7`.", c.name))
	}
}

// mib formats a byte count as tend's settings write it.
func mib(b int64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%dM", b>>20)
	}
	return fmt.Sprintf("%d bytes", b)
}

// suggestLimit is a max_memory_restart in MiB: 1.5 times the largest
// instance's memory now, in steps of 64M, at least 256M.
func suggestLimit(is []api.Instance) int64 {
	var peak uint64
	for _, in := range is {
		peak = max(peak, in.MemoryBytes)
	}
	m := int64(peak*3/2>>20+63) / 64 * 64
	return max(m, 256)
}

func (c *checker) startup() {
	st := c.in.Startup
	switch {
	case st.Written && st.Enabled && st.SystemdRunning:
		c.add("startup", Pass, "tend starts on boot and restores its apps.", "")
	case !st.SystemdRunning:
		c.add("startup", Warn, "systemd is not running on this machine, so no boot unit starts tend: after a reboot the app stays down.",
			"In a container, make `tend run` the entrypoint; on a machine with another init, have it start `tend daemon`.")
	case !st.Written:
		c.add("startup", Warn, "Nothing starts tend on boot: after a reboot the app stays down.",
			"Run `tend startup` and the commands it prints.")
	default:
		c.add("startup", Warn, "tend's boot unit is written but not enabled: after a reboot the app stays down.",
			"Run `tend startup --enable` (or systemctl enable --now for the unit it names).")
	}
}

// crashes counts the app's unexpected exits within crashWindow.
func (c *checker) crashes() {
	type crash struct {
		line string
		at   time.Time
	}
	var cs []crash
	for _, e := range c.in.App.Crashes {
		if c.now.Sub(e.At) > crashWindow {
			continue
		}
		cs = append(cs, crash{e.What(), e.At})
	}
	if len(cs) == 0 {
		c.add("crashes", Pass, "No instance crashed in the last 24 hours.", "")
		return
	}
	// The most frequent line; among equals, the most recent.
	count := map[string]int{}
	last := map[string]time.Time{}
	for _, x := range cs {
		count[x.line]++
		if x.at.After(last[x.line]) {
			last[x.line] = x.at
		}
	}
	var top string
	for l := range count {
		if top == "" || count[l] > count[top] || count[l] == count[top] && last[l].After(last[top]) {
			top = l
		}
	}
	what := "1 crash"
	if len(cs) > 1 {
		what = fmt.Sprintf("%d crashes", len(cs))
	}
	which := "latest error: " + top
	if count[top] > 1 {
		which = fmt.Sprintf("most frequent error (%d×): %s", count[top], top)
	}
	c.add("crashes", Warn, fmt.Sprintf("%s in the last 24 hours; %s", what, which),
		fmt.Sprintf("Read the whole trace with `tend logs %s --err --lines 200` and fix the error.", c.name))
}
