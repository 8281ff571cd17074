// Package logs is tend's log pipeline: it drains an app's stdout and stderr
// pipes, frames what they carry into lines, and hands each line to sinks that
// never block the reader: rotating files ([File]), live followers and a backlog
// ring ([Hub]), and the crash context of an instance ([Recent]).
//
// The rule behind every type here is the design's invariant that an app is
// never blocked by tend. [Capture] blocks only on the pipe it reads; every
// sink takes a line in bounded time and, when it cannot keep up, drops the
// line, counts it, and later marks the gap with a line "tend: dropped N lines".
//
// Goroutines: [OpenFile] starts one writer goroutine per file (and one
// janitor goroutine when rotated files are compressed or pruned); [File.Close]
// stops them. [Hub.Follow] starts one goroutine per follower; cancelling its
// context stops it. Nothing else here starts a goroutine.
package logs
