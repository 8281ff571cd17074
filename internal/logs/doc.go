// Package logs is tend's log pipeline: it drains an app's stdout and stderr
// pipes, frames what they carry into lines, and hands the lines of each read
// as one Chunk to sinks that never block the reader: rotating files
// ([File]), live followers and the recent lines of each app ([Hub]), and the
// crash context of an instance ([Recent]). Work per line is left to the
// sinks that need lines: a plain log file takes a chunk as one copy, and the
// recent lines are framed when someone asks for them.
//
// The rule behind every type here is the design's invariant that an app is
// never blocked by tend. [Capture] waits only on the pipe it reads; every
// sink takes a chunk in bounded time and, when it cannot keep up, drops
// lines, counts them, and later marks the gap with a line "tend: dropped N
// lines".
//
// Goroutines: [OpenFile] starts one writer goroutine per file (and one
// janitor goroutine when rotated files are compressed or pruned); [File.Close]
// stops them. [Hub.Follow] starts one goroutine per follower; cancelling its
// context stops it. Nothing else here starts a goroutine.
package logs
