// A dependency-free Node.js web app for trying tend: it answers on PORT and
// crashes on purpose at /crash so you can watch tend bring it back.
const http = require('http');

const port = Number(process.env.PORT || 3000);
const started = new Date();

const server = http.createServer((req, res) => {
  if (req.url === '/crash') {
    res.end('crashing; tend restarts me\n');
    setImmediate(() => { throw new Error('crash requested at /crash'); });
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({
    hello: 'world',
    pid: process.pid,
    instance: process.env.TEND_INSTANCE,
    node_env: process.env.NODE_ENV,
    up_since: started.toISOString(),
  }) + '\n');
});

server.listen(port, () => console.log(`hello listening on http://localhost:${port}`));

process.on('SIGINT', () => {
  console.log('SIGINT: closing the server');
  server.close(() => process.exit(0));
});
