package logs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
)

// tailBlock is how much TailFile reads at a time, backwards from the end.
const tailBlock = 64 << 10

// TailFile returns the last n lines of the file at path, oldest first and
// without their newlines: the backlog of `tend logs` from before the daemon
// started. It reads backwards from the end in blocks and stops once it has n
// lines, so its cost follows n and the length of the lines, not the size of
// the file. A last line without a newline counts as a line.
func TailFile(path string, n int) ([]string, error) {
	return tailFile(path, n, tailBlock)
}

func tailFile(path string, n, block int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", path, err)
	}
	end := fi.Size()
	// Blocks are kept newest first and joined once, so that long lines cost
	// one copy rather than one per block.
	var blocks [][]byte
	pos := end
	newlines := 0 // read so far, not counting a newline that ends the file
	for pos > 0 && newlines < n {
		size := min(int64(block), pos)
		pos -= size
		chunk := make([]byte, size)
		if _, err := f.ReadAt(chunk, pos); err != nil && err != io.EOF {
			return nil, fmt.Errorf("tail %s: %w", path, err)
		}
		newlines += bytes.Count(chunk, []byte{'\n'})
		if pos+size == end && chunk[size-1] == '\n' {
			newlines--
		}
		blocks = append(blocks, chunk)
	}
	slices.Reverse(blocks)
	data := bytes.Join(blocks, nil)
	data = bytes.TrimSuffix(data, []byte{'\n'})
	if len(data) == 0 && pos == 0 && end == 0 {
		return nil, nil
	}
	parts := bytes.Split(data, []byte{'\n'})
	if pos > 0 || len(parts) > n {
		// The first part is the end of a line we did not read whole, or a
		// line before the last n.
		parts = parts[len(parts)-min(n, len(parts)):]
	}
	lines := make([]string, len(parts))
	for i, p := range parts {
		lines[i] = string(p)
	}
	return lines, nil
}
