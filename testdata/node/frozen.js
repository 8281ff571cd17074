// Frozen fixture: breaks what tend's runtime preload uses, as a hardened
// or odd app might (a process.send that throws, then a frozen process and
// frozen perf_hooks and v8), and serves "ok" on PORT. It must run.
const http = require('http');
const server = http.createServer((req, res) => res.end('ok\n'));
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
process.send = () => { throw new Error('no IPC here'); };
Object.freeze(process);
Object.freeze(require('perf_hooks'));
Object.freeze(require('v8'));
