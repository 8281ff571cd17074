package edge

import (
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// The app learns who the client is from X-Forwarded-For, -Host and -Proto.
// From an ordinary client these are lies or noise, and the edge replaces
// them; from a proxy in trusted_proxies (a CDN, a load balancer) they are
// kept, and the client's address is read from X-Forwarded-For.

// trusts says whether addr is in one of the trusted prefixes.
func trusts(trusted []netip.Prefix, addr netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientOf finds the client of r: the peer, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not a
// trusted proxy itself (addresses further left were written by the client
// and prove nothing).
func clientOf(trusted []netip.Prefix, r *http.Request) (client netip.Addr, viaProxy bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	peer := ap.Addr().Unmap()
	if len(trusted) == 0 || !trusts(trusted, peer) {
		return peer, false
	}
	client = peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !trusts(trusted, client) {
				return client, true
			}
		}
	}
	return client, true
}

// rewriteForwarded sets the X-Forwarded-* headers of the request to an
// instance (ReverseProxy has removed the client's already), and gives the
// session cookie back its name.
func rewriteForwarded(pr *httputil.ProxyRequest, ex *exchange) {
	in, out := pr.In.Header, pr.Out.Header
	if ex != nil && ex.trusted {
		if v, ok := in["X-Forwarded-For"]; ok {
			out["X-Forwarded-For"] = v // SetXForwarded appends the peer
		}
	}
	pr.SetXForwarded()
	if ex == nil {
		return
	}
	ex.s.cookies.request(out)
	if ex.trusted {
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
			if v, ok := in[k]; ok {
				out[k] = v
			}
		}
		if v, ok := in["X-Real-Ip"]; ok {
			out["X-Real-Ip"] = v
			return
		}
	}
	// Apps behind nginx read X-Real-IP; a client must not be able to set it.
	if ex.client.IsValid() {
		out.Set("X-Real-Ip", ex.client.String())
	} else {
		delete(out, "X-Real-Ip")
	}
}
