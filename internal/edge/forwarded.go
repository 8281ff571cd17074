package edge

import (
	"net/http"
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

// appendForwarded appends the X-Forwarded-* headers of the request to an
// instance (appendHead has dropped the client's), as ReverseProxy's
// SetXForwarded makes them: X-Forwarded-For is the peer, after the list a
// trusted proxy sent; X-Forwarded-Host the Host; X-Forwarded-Proto the
// scheme. A trusted proxy's X-Forwarded-Host, -Proto, Forwarded and
// X-Real-IP are kept.
func appendForwarded(b []byte, r *http.Request, ex *exchange) []byte {
	in := r.Header
	trusted := ex != nil && ex.trusted
	if ip := hostPort(r); ip != "" {
		b = append(b, "X-Forwarded-For: "...)
		if trusted {
			for _, v := range in["X-Forwarded-For"] {
				b = appendValue(b, v)
				b = append(b, ", "...)
			}
		}
		b = append(b, ip...)
		b = append(b, "\r\n"...)
	}
	if v, ok := in["X-Forwarded-Host"]; ok && trusted {
		b = appendFields(b, "X-Forwarded-Host", v)
	} else {
		b = appendField(b, "X-Forwarded-Host", r.Host)
	}
	if v, ok := in["X-Forwarded-Proto"]; ok && trusted {
		b = appendFields(b, "X-Forwarded-Proto", v)
	} else if r.TLS != nil {
		b = append(b, "X-Forwarded-Proto: https\r\n"...)
	} else {
		b = append(b, "X-Forwarded-Proto: http\r\n"...)
	}
	if ex == nil {
		return b
	}
	if trusted {
		b = appendFields(b, "Forwarded", in["Forwarded"])
		if v, ok := in["X-Real-Ip"]; ok {
			return appendFields(b, "X-Real-Ip", v)
		}
	}
	// Apps behind nginx read X-Real-IP; a client must not be able to set it.
	if ex.client.IsValid() {
		b = append(b, "X-Real-Ip: "...)
		b = ex.client.AppendTo(b)
		b = append(b, "\r\n"...)
	}
	return b
}

func appendFields(b []byte, k string, vv []string) []byte {
	for _, v := range vv {
		b = appendField(b, k, v)
	}
	return b
}
