// Stall windows on demand: while stalling (GET /on until GET /off), the
// event loop is blocked for 500 ms every second in stallForProfile. GET
// /count answers how many stalls there have been. Serves on PORT.
const http = require('http');

let stalling = false;
let stalls = 0;

// The timer's callback itself, so that no JIT inlines it into a caller
// and a CPU profile names it.
let sink = 0;
setInterval(function stallForProfile() {
  if (!stalling) return;
  const end = Date.now() + 500;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) x = (x * 31 + i) % 1000003;
  }
  sink += x;
  stalls++;
}, 1000);

const server = http.createServer((req, res) => {
  if (req.url === '/on') stalling = true;
  if (req.url === '/off') stalling = false;
  res.end(req.url === '/count' ? String(stalls) : 'ok\n');
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
