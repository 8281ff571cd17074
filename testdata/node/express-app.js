// Express fixture: answers on PORT; /crash throws outside the request so the
// process dies as an uncaught exception would kill a real app.
const express = require('express');
const fs = require('fs');

// A test breaks the next start by creating BREAK_FILE: the new code throws
// before it listens, as a bad deploy would.
if (process.env.BREAK_FILE && fs.existsSync(process.env.BREAK_FILE)) {
  throw new Error('broken build: ' + process.env.BREAK_FILE);
}

const app = express();
const port = Number(process.env.PORT || 3000);

app.get('/', (req, res) => {
  res.json({ pid: process.pid, instance: process.env.TEND_INSTANCE, node_env: process.env.NODE_ENV });
});

// POST is what a load test uses when it must see every failure: a client
// never resends one on its own, as it may a GET on a closed keep-alive
// connection.
app.post('/', (req, res) => res.json({ pid: process.pid }));

app.get('/env', (req, res) => res.json(process.env));

app.get('/crash', (req, res) => {
  res.send('crashing\n');
  setImmediate(() => { throw new Error('crash requested'); });
});

app.get('/login', (req, res) => {
  // What express-session and friends send: a default session name, and an
  // attribute (Priority) that re-serialising cookies would drop.
  res.setHeader('Set-Cookie', ['connect.sid=s%3Aabc; Path=/', 'pref=dark; Path=/; Priority=High']);
  res.json({ cookie: req.headers.cookie || '' });
});

app.get('/big', (req, res) => res.type('text/plain').send('tend '.repeat(2000)));

app.get('/headers', (req, res) => res.json(req.headers));

app.get('/slow', (req, res) => setTimeout(() => res.send('slow\n'), Number(req.query.ms || 200)));

// The host is left out on purpose: socket mode must work with the most
// common unmodified call, app.listen(port).
const server = app.listen(port, () => {
  console.log(`express fixture listening on ${port}`);
  if (process.env.WAIT_READY && process.send) process.send('ready');
});

// WebSocket-style echo without dependencies: upgrade, then echo raw bytes.
server.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  socket.pipe(socket);
});

process.on('SIGINT', () => server.close(() => process.exit(0)));
