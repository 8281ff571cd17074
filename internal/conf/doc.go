// Package conf holds tend's value grammars and the one way its settings are
// declared and decoded.
//
// A setting's value comes from a YAML, JSON or TOML file, a flag, `tend set`
// or the API, always as the generic values those decoders produce (maps with
// string keys, lists, strings, numbers, booleans). The grammars here read
// those values: sizes ("10M"), durations (milliseconds or "1.5s"), signals
// ("SIGTERM", "term", 15), whole numbers. A Table declares the keys of one
// mapping (name, aliases, kind, bounds, setter); decoding a mapping with it
// reports every problem by key path (FieldError), not only the first, and
// names the nearest known key when one is misspelt.
//
// conf imports nothing of tend's: the spec, the edge's options, the daemon's
// own settings and the CLI all read values through it.
package conf
