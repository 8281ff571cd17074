// CPU fixture: serves HTTP on PORT and, while BURN_FILE exists, keeps one
// core busy in short slices so that it still answers requests.
const http = require('http');
const fs = require('fs');

function burn() {
  if (process.env.BURN_FILE && fs.existsSync(process.env.BURN_FILE)) {
    const until = Date.now() + 50;
    while (Date.now() < until) { /* busy */ }
    setImmediate(burn);
  } else {
    setTimeout(burn, 100);
  }
}
burn();

const server = http.createServer((req, res) => res.end(JSON.stringify({ pid: process.pid }) + '\n'));
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
