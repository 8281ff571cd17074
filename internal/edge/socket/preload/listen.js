'use strict';
// tend socket mode, loaded with `node -r`. tend binds the app's public port
// once and hands the listening socket to every instance as fd 3, systemd
// style (LISTEN_FDS=1, LISTEN_PID). The app's first listen on a TCP port,
// whatever port and host it names, listens on that socket instead, so an
// unmodified app.listen(PORT) (Express goes through http.Server, which is a
// net.Server) shares it and the kernel balances. Later listens are left alone.
const net = require('net');

// LISTEN_PID guards against a child of the app inheriting the variables
// without the socket.
if (process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid)) {
  const listen = net.Server.prototype.listen;
  let taken = false;

  // A port as node reads one: a number, or a string that is a number (PORT
  // from the environment); any other string is a pipe path.
  const isPort = (p) => (typeof p === 'number' || typeof p === 'string') && p !== '' && Number(p) >= 0;
  const isTCP = (a) => isPort(a) ||
    (a !== null && typeof a === 'object' && isPort(a.port) && a.path === undefined && a.fd === undefined && a.handle === undefined);

  net.Server.prototype.listen = function (...args) {
    if (taken || !isTCP(args[0])) {
      return listen.apply(this, args);
    }
    taken = true;
    // tend counts the instance ready once it accepts on the socket; the
    // kernel queues connections before that, so the port alone says nothing.
    this.once('listening', () => {
      if (typeof process.send === 'function') process.send({ tend: 'listening' });
    });
    drainOnClose(this);
    // Node adds the callback as a 'listening' listener in every form.
    const cb = args.find((a) => typeof a === 'function');
    return cb ? listen.call(this, { fd: 3 }, cb) : listen.call(this, { fd: 3 });
  };
}

// drainOnClose makes closing the server graceful for keep-alive clients.
// The socket is shared: the new instances keep accepting on it, so this
// one only has to let its own connections go without failing a request.
// Node's close() drops idle keep-alive connections at once, racing a
// client that is sending its next request on one (it sees a reset). Here,
// once closing, every response says Connection: close, and a connection
// still idle after a short grace is closed then.
function drainOnClose(server) {
  let closing = false;
  const closeIdle = server.closeIdleConnections;
  const close = server.close;
  server.close = function (...args) {
    if (!closing && typeof closeIdle === 'function') {
      closing = true;
      // Added only now: a 'request' listener of its own would cost every
      // request of the instance's life an extra call.
      this.prependListener('request', (req, res) => {
        res.shouldKeepAlive = false;
      });
      this.closeIdleConnections = () => {};
      setTimeout(() => closeIdle.call(this), 1000).unref();
    }
    return close.apply(this, args);
  };
  // An app with no SIGINT handler of its own would die at once, taking
  // its requests in flight with it: stop it the graceful way instead.
  // kill_timeout still bounds how long it may take.
  process.on('SIGINT', function onSigint() {
    if (process.listenerCount('SIGINT') > 1) return; // the app handles it
    server.close(() => process.exit(0));
  });
}
