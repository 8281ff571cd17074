// Late fixture: listens on PORT only after LATE_MS (default 1500), as an
// app that warms a cache before it serves.
const http = require('http');
const server = http.createServer((req, res) => res.end('late ' + process.pid + '\n'));
setTimeout(() => server.listen(Number(process.env.PORT)), Number(process.env.LATE_MS || 1500));
process.on('SIGINT', () => { server.close(); process.exit(0); });
