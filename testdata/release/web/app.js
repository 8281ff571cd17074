// Release fixture: answers with its version (package.json's) and pid, so a
// test sees which release serves. BREAK_FILE as in ../../node/express-app.js.
const express = require('express');
const fs = require('fs');
const { version } = require('./package.json');

if (process.env.BREAK_FILE && fs.existsSync(process.env.BREAK_FILE)) {
  console.error('broken release ' + version);
  throw new Error('broken release: ' + process.env.BREAK_FILE);
}
if (fs.existsSync(__dirname + '/BROKEN')) {
  console.error('this release is broken: ' + version);
  process.exit(3);
}

const app = express();
app.get('/', (req, res) => res.json({ version, pid: process.pid }));
app.post('/', (req, res) => res.json({ version, pid: process.pid }));
const server = app.listen(Number(process.env.PORT || 3000));
process.on('SIGINT', () => server.close(() => process.exit(0)));
