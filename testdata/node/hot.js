// Profile fixture: burns CPU in a function with a name a CPU profile must
// show (hotLoopForProfile), in short slices so that the HTTP server on PORT
// keeps answering meanwhile. Every answer is "ok <n>".
const http = require('http');

let sink = 0;
function hotLoopForProfile(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) x = (x * 31 + i) % 1000003;
  }
  sink += x;
}

function burn() {
  hotLoopForProfile(20);
  setImmediate(burn);
}
burn();

let served = 0;
const server = http.createServer((req, res) => {
  served++;
  res.end(`ok ${served}\n`);
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
