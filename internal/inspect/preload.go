package inspect

import _ "embed"

// RuntimePreloadJS is the Node preload that reports an instance's runtime
// figures (event loop, heap, GC, handles) over the IPC channel as
// {type: 'tend:runtime', figures: {name: value}}; the names are those of
// RuntimeFigures, plus gc_<kind>_total and gc_<kind>_pause_seconds_total.
//
//go:embed preload/runtime.js
var RuntimePreloadJS []byte
