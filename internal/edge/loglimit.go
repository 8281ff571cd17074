package edge

import "github.com/tendhq/tend/internal/loglimit"

// logLimiter lets one line of a kind that any client can cause through
// per loglimit.Every (see package loglimit).
type logLimiter = loglimit.Limiter

// limitedLog is the writer of the HTTP/2 server's ErrorLog.
type limitedLog = loglimit.Writer
