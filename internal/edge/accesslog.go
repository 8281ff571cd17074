package edge

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tendhq/tend/internal/edge/edgeconf"
)

// An access log line is made once the response is complete and handed to
// Config.AccessLog, which passes it to the log pipeline (rotated like the
// app's own logs) and must not block. A line has no trailing newline.
//
// json:     {"time":"2026-01-02T15:04:05.000Z","client":"203.0.113.9","method":"GET",
//            "host":"example.com","path":"/a?b=1","proto":"HTTP/2.0","status":200,"bytes":512,
//            "duration_ms":1.234,"instance":"api#1.g2","referer":"","user_agent":"curl/8.5"}
// combined: Apache's combined format, then the duration in seconds and the instance:
//            203.0.113.9 - - [02/Jan/2026:15:04:05 +0000] "GET /a?b=1 HTTP/2.0" 200 512 "-" "curl/8.5" 0.001 api#1.g2

// accessLine formats the line of one exchange.
func accessLine(f edgeconf.AccessLogFormat, ex *exchange, r *http.Request, status int, bytes int64, end time.Time) []byte {
	client := "-"
	if ex.client.IsValid() {
		client = ex.client.String()
	}
	instance := ex.instance
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	dur := end.Sub(ex.start)
	b := make([]byte, 0, 256)
	if f == edgeconf.AccessLogCombined {
		b = append(b, client...)
		b = append(b, " - "...)
		b = appendQuotedUser(b, r)
		b = append(b, " ["...)
		b = ex.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		b = append(b, "] \""...)
		b = appendApache(b, r.Method)
		b = append(b, ' ')
		b = appendApache(b, uri)
		b = append(b, ' ')
		b = appendApache(b, r.Proto)
		b = append(b, "\" "...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, ' ')
		if bytes == 0 {
			b = append(b, '-')
		} else {
			b = strconv.AppendInt(b, bytes, 10)
		}
		b = append(b, " \""...)
		b = appendApache(b, orDash(r.Header.Get("Referer")))
		b = append(b, "\" \""...)
		b = appendApache(b, orDash(r.Header.Get("User-Agent")))
		b = append(b, "\" "...)
		b = strconv.AppendFloat(b, dur.Seconds(), 'f', 3, 64)
		b = append(b, ' ')
		b = appendApache(b, orDash(instance))
		return b
	}
	b = append(b, `{"time":`...)
	b = appendJSON(b, ex.start.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b = append(b, `,"client":`...)
	b = appendJSON(b, client)
	b = append(b, `,"method":`...)
	b = appendJSON(b, r.Method)
	b = append(b, `,"host":`...)
	b = appendJSON(b, r.Host)
	b = append(b, `,"path":`...)
	b = appendJSON(b, uri)
	b = append(b, `,"proto":`...)
	b = appendJSON(b, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(dur.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"instance":`...)
	b = appendJSON(b, instance)
	b = append(b, `,"referer":`...)
	b = appendJSON(b, r.Header.Get("Referer"))
	b = append(b, `,"user_agent":`...)
	b = appendJSON(b, r.Header.Get("User-Agent"))
	return append(b, '}')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendQuotedUser is the %u field: the Basic auth user, or "-".
func appendQuotedUser(b []byte, r *http.Request) []byte {
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return appendApache(b, u)
	}
	return append(b, '-')
}

// appendApache escapes as Apache's log does: quotes, backslashes and
// bytes outside printable ASCII as \xHH, so that a client cannot forge
// a line or a field.
func appendApache(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendJSON appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSON(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
