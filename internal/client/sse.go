package client

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// streamError is why a server-sent-event stream could not be read: the
// connection failed, or a data line did not decode.
type streamError struct{ err error }

func (e *streamError) Error() string { return e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// readSSE reads the data lines of a server-sent-event stream as JSON
// values of T and passes each to fn, until the stream ends (nil), fn
// returns an error (that error, as it is), or the stream cannot be read
// (a *streamError). The daemon's logs, events and deploys are such
// streams.
func readSSE[T any](r io.Reader, fn func(T) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue // the id and event lines repeat what data holds; comments are heartbeats
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return &streamError{err}
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &streamError{err}
	}
	return nil
}
