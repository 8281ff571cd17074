// Synchronous I/O on the request path: every request reads this file with
// fs.readFileSync in readConfigForRequest (as bytes: Node 20's utf8 read is
// one C++ call that --trace-sync-io does not see). Serves on PORT.
const http = require('http');
const fs = require('fs');

function readConfigForRequest() {
  return fs.readFileSync(__filename).length;
}
const server = http.createServer((req, res) => res.end(`ok ${readConfigForRequest()}\n`));
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
