// Stall windows on demand: while stalling (GET /on until GET /off), the
// event loop is blocked for 500 ms every second in stallForProfile. GET
// /count answers how many stalls there have been. Serves on PORT.
const http = require('http');

let stalling = false;
let stalls = 0;

// The block is made of 20 ms calls of stallForProfile, as hot.js burns:
// a single 500 ms call would run in on-stack-replaced code, which a CPU
// profile may charge to the timer machinery that called it.
let sink = 0;
function stallForProfile(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) x = (x * 31 + i) % 1000003;
  }
  sink += x;
}
setInterval(() => {
  if (!stalling) return;
  for (let i = 0; i < 25; i++) stallForProfile(20);
  stalls++;
}, 1000);

const server = http.createServer((req, res) => {
  if (req.url === '/on') stalling = true;
  if (req.url === '/off') stalling = false;
  res.end(req.url === '/count' ? String(stalls) : 'ok\n');
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
