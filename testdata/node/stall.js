// Stall fixture: blocks its event loop for 500 ms every second (a
// synchronous loop in stallForProfile), and serves "ok" on PORT between.
const http = require('http');

function stallForProfile(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end);
}
setInterval(() => stallForProfile(500), 1000);

const server = http.createServer((req, res) => res.end('ok\n'));
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
