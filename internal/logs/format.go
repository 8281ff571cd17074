package logs

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tendhq/tend/internal/conf"
)

// SplitSuffix ends the file form of a Line whose Split is true: the app's
// line continues on the next line of the file.
const SplitSuffix = " [tend: line split]"

// DefaultTimeLayout is the Go layout of timestamps when Format.DateLayout is
// empty: RFC 3339 with milliseconds.
const DefaultTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Format says how a line is written to a file.
//
// The text form is the line as the app wrote it, or "<timestamp>: <line>"
// with Time (PM2's layout); a split piece ends with SplitSuffix. The JSON
// form is one object per line:
//
//	{"timestamp":"…","app":"api","instance":0,"stream":"out","message":"…"}
//
// with "split":true added to a split piece; it always has the timestamp,
// whatever Time says. Timestamps are in the line's time zone (local time for
// captured lines).
type Format struct {
	Time       bool   // prefix each line with a timestamp (PM2's time: true)
	DateLayout string // moment-style layout (conf.ParseMomentLayout); "" = DefaultTimeLayout
	JSON       bool   // one JSON object per line (PM2's log_type: json)
}

// Validate reports whether DateLayout parses; call it when loading a config
// so that a bad layout is an error there rather than a fallback at run time.
func (f Format) Validate() error {
	if f.DateLayout == "" {
		return nil
	}
	_, err := conf.ParseMomentLayout(f.DateLayout)
	return err
}

// Render returns l in the format, ending with a newline. An invalid
// DateLayout falls back to DefaultTimeLayout (see Validate).
func (f Format) Render(l Line) []byte {
	return f.Append(nil, l)
}

// Append appends l in the format, ending with a newline, to dst.
func (f Format) Append(dst []byte, l Line) []byte {
	r := newRenderer(f)
	return r.appendLine(dst, l)
}

// layouts caches parsed DateLayouts so that Format.Render, used per line by
// callers such as the CLI, parses each layout once.
var layouts sync.Map // string → *conf.MomentLayout (nil when the layout is invalid)

func cachedLayout(s string) *conf.MomentLayout {
	if s == "" {
		return nil
	}
	if v, ok := layouts.Load(s); ok {
		return v.(*conf.MomentLayout)
	}
	var p *conf.MomentLayout
	if ml, err := conf.ParseMomentLayout(s); err == nil {
		p = &ml
	}
	layouts.Store(s, p)
	return p
}

// renderer renders lines in one Format, remembering the last timestamp it
// formatted: the lines of one read(2) share their Time, so at high rates
// most lines reuse it. A renderer is owned by one goroutine.
type renderer struct {
	f      Format
	layout *conf.MomentLayout // nil: DefaultTimeLayout
	last   time.Time
	stamp  []byte
}

func newRenderer(f Format) *renderer {
	return &renderer{f: f, layout: cachedLayout(f.DateLayout)}
}

func (r *renderer) timestamp(t time.Time) []byte {
	if r.stamp != nil && t == r.last {
		return r.stamp
	}
	r.last = t
	if r.layout != nil {
		r.stamp = r.layout.AppendFormat(r.stamp[:0], t)
	} else {
		r.stamp = t.AppendFormat(r.stamp[:0], DefaultTimeLayout)
	}
	return r.stamp
}

// append appends the lines of c. In the plain format, which is most logs,
// that is one copy of the chunk's text, whatever its number of lines.
func (r *renderer) append(b []byte, c Chunk) []byte {
	if !r.f.JSON && !r.f.Time && !c.Split {
		return append(b, c.Text...)
	}
	for l := range c.Lines() {
		b = r.appendLine(b, l)
	}
	return b
}

func (r *renderer) appendLine(b []byte, l Line) []byte {
	if r.f.JSON {
		b = append(b, `{"timestamp":"`...)
		b = appendJSONText(b, r.timestamp(l.Time))
		b = append(b, `","app":"`...)
		b = appendJSONText(b, l.App)
		b = append(b, `","instance":`...)
		b = strconv.AppendInt(b, int64(l.Instance), 10)
		b = append(b, `,"stream":"`...)
		b = appendJSONText(b, l.Stream)
		b = append(b, `","message":"`...)
		b = appendJSONText(b, l.Text)
		if l.Split {
			b = append(b, `","split":true}`+"\n"...)
		} else {
			b = append(b, `"}`+"\n"...)
		}
		return b
	}
	if r.f.Time {
		b = append(b, r.timestamp(l.Time)...)
		b = append(b, ": "...)
	}
	b = append(b, l.Text...)
	if l.Split {
		b = append(b, SplitSuffix...)
	}
	return append(b, '\n')
}

const hexDigits = "0123456789abcdef"

// appendJSONText appends s escaped as the inside of a JSON string, as
// encoding/json does without HTML escaping: invalid UTF-8 becomes U+FFFD, so
// every line of a JSON log parses whatever bytes the app wrote.
func appendJSONText[S string | []byte](b []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript;
		// encoding/json escapes them and so do we.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
