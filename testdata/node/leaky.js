// Heap fixture: keeps every LeakyWidget it makes, ten each tick up to
// 200000, so that two heap snapshots taken apart show more of them. Serves "ok" on PORT.
const http = require('http');

class LeakyWidget {
  constructor(n) {
    this.n = n;
    this.payload = 'widget-' + n;
  }
}

// churn makes garbage, so that a sampling heap profile has allocations to
// show every second.
function churn() {
  const a = [];
  for (let i = 0; i < 100; i++) a.push({ i, s: 'tmp-' + i + '-' + made });
  return a.length;
}

const kept = [];
let made = 0;
setInterval(() => {
  for (let i = 0; i < 10 && kept.length < 200000; i++) kept.push(new LeakyWidget(made++));
  churn();
}, 10);

const server = http.createServer((req, res) => res.end(`ok ${kept.length}\n`));
server.listen(Number(process.env.PORT || 0), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
