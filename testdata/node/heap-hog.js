// Heap fixture: the process that claims HOG_FILE (renames it away, so only
// one process ever does) fills its V8 heap with HOG_MB megabytes of
// HeapHog objects and holds them. Serves "ok" on PORT when given one.
const http = require('http');
const fs = require('fs');

class HeapHog {
  constructor() { this.data = new Array(1024).fill(Math.random()); }
}

const file = process.env.HOG_FILE;
let claimed = false;
if (file) {
  try { fs.renameSync(file, `${file}.claimed.${process.pid}`); claimed = true; } catch (e) { /* not ours */ }
}
const held = [];
if (claimed) {
  const n = (Number(process.env.HOG_MB || 100) << 20) / (1024 * 8);
  for (let i = 0; i < n; i++) held.push(new HeapHog());
}
setInterval(() => { if (held.length) held[0].data[0]++; }, 1000);

const server = http.createServer((req, res) => res.end('ok\n'));
if (process.env.PORT) server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => { server.close(); process.exit(0); });
