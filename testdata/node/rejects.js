// Unhandled promise rejections: GET /reject rejects a promise nobody
// handles. With OWN_LISTENER=1 the app has its own 'unhandledRejection'
// listener (it logs and goes on); without it, Node's default applies: the
// rejection is thrown and the process exits with code 1. Serves on PORT.
const http = require('http');

if (process.env.OWN_LISTENER === '1') {
  process.on('unhandledRejection', (reason) => console.error('app saw a rejection:', reason.message));
}
const server = http.createServer((req, res) => {
  if (req.url === '/reject') Promise.reject(new Error('rejectedForDoctor'));
  res.end('ok\n');
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
