// Express fixture: answers on PORT; /crash throws outside the request so the
// process dies as an uncaught exception would kill a real app.
const express = require('express');

const app = express();
const port = Number(process.env.PORT || 3000);

app.get('/', (req, res) => {
  res.json({ pid: process.pid, instance: process.env.TEND_INSTANCE, node_env: process.env.NODE_ENV });
});

app.get('/env', (req, res) => res.json(process.env));

app.get('/crash', (req, res) => {
  res.send('crashing\n');
  setImmediate(() => { throw new Error('crash requested'); });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`express fixture listening on ${port}`);
});

process.on('SIGINT', () => server.close(() => process.exit(0)));
