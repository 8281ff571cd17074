// Fixed-port fixture: listens on a port of its own (FIXED_PORT, else 3000)
// and ignores PORT, as an app with a hard-coded app.listen(3000) does.
const http = require('http');
const port = Number(process.env.FIXED_PORT || 3000);
console.error(`fixed-port fixture: ignoring PORT=${process.env.PORT}, listening on ${port}`);
const server = http.createServer((req, res) => res.end('fixed\n')).listen(port, '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
