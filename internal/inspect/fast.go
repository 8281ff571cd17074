package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A heap snapshot arrives as tens of MB of JSON strings, each chunk a JSON
// string inside an event. encoding/json scans a message once to validate it
// and again to decode it, for the envelope and again for the params; the
// fast paths below cut an event's method and params out of the envelope as
// Node writes it and unescape a chunk with bytes.IndexByte, falling back to
// encoding/json for anything shaped otherwise.

var (
	eventPrefix  = []byte(`{"method":"`)
	paramsPrefix = []byte(`","params":`)
	chunkPrefix  = []byte(`{"chunk":"`)
	chunkSuffix  = []byte(`"}`)
)

// splitEvent returns the method and params of an event written as Node
// writes them: {"method":"M","params":{...}}.
func splitEvent(b []byte) (method string, params []byte, ok bool) {
	rest, ok := bytes.CutPrefix(b, eventPrefix)
	if !ok {
		return "", nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return "", nil, false
	}
	method = string(rest[:i])
	params, ok = bytes.CutPrefix(rest[i:], paramsPrefix)
	if !ok || len(params) < 2 || params[0] != '{' || params[len(params)-1] != '}' {
		return "", nil, false
	}
	return method, params[:len(params)-1], true
}

// appendChunk appends the chunk of an addHeapSnapshotChunk event's params
// to dst.
func appendChunk(dst, params []byte) ([]byte, error) {
	body, ok := bytes.CutPrefix(params, chunkPrefix)
	if ok {
		body, ok = bytes.CutSuffix(body, chunkSuffix)
	}
	if ok {
		if out, err := appendUnquoted(dst, body); err == nil {
			return out, nil
		}
	}
	var p struct {
		Chunk string `json:"chunk"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return dst, err
	}
	return append(dst, p.Chunk...), nil
}

var errBadString = errors.New("not the body of a JSON string")

// appendUnquoted appends the JSON string body s (without its quotes),
// unescaped, to dst.
func appendUnquoted(dst, s []byte) ([]byte, error) {
	if bytes.IndexByte(s, '"') >= 0 {
		return dst, errBadString
	}
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...), nil
		}
		dst = append(dst, s[:i]...)
		if i+1 >= len(s) {
			return dst, errBadString
		}
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s)
			if !ok {
				return dst, errBadString
			}
			s = s[4:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if v, ok := hex4(s[2:]); ok {
						r2 = v
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					s = s[6:]
					r = d
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, errBadString
		}
	}
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s[:4]), 16, 32)
	return rune(v), err == nil
}
